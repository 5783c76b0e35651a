"""tools/benchmark_delta_conv.py: a one-repeat run of both fired patterns writes its record."""
import subprocess
import sys
from pathlib import Path

import pytest

from mmeff.benchmark import load_record
from mmeff.ops import has_extension

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not has_extension(), reason='the compiled extension is not built')
@pytest.mark.parametrize('pattern', ['values', 'pixels'])
def test_runs_and_reports_the_fired_share(tmp_path, pattern):
    out = tmp_path / 'rows.json'
    subprocess.run([
        sys.executable,
        str(REPO / 'tools' / 'benchmark_delta_conv.py'), '--repeats', '1', '--warmup', '0',
        '--shares', '0.2', '--layouts', 'NHWC', '--pattern', pattern, '--json',
        str(out)
    ], check=True, cwd=REPO, capture_output=True)
    rows = load_record(out)['rows']
    assert len(rows) == 7
    for row in rows:
        assert 0.1 < row['value_share'] < 0.3, row  # 48 to 3072 pixels drawn
        assert 0 < row['mac_share'] <= row['value_share'] + 1e-6 and row['speedup'] > 0, row
