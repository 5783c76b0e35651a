"""Every benchmark script of the suite, on a tiny run: it writes a valid record, and the page
renders from all of them (so a broken benchmark is noticed in CI, not at the next full run)."""
import subprocess
import sys
from pathlib import Path

import pytest

from mmeff.benchmark import load_record
from mmeff.benchmark.report import render_page_file
from mmeff.benchmark.suite import BENCHMARKS, NAMES
from mmeff.ops import has_extension

REPO = Path(__file__).resolve().parents[2]
TINY_POSE = 'configs/pose/td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'
TINY_RUNS = dict(
    sparse_conv2d=[
        'tools/benchmark_sparse_conv.py', '--repeats', '1', '--warmup', '0', '--densities', '0.1',
        '--layers', '3x3 32->32'
    ],
    kgs_conv3d=[
        'tools/benchmark_kgs_conv3d.py', '--repeats', '1', '--warmup', '0', '--reductions', '2',
        '--layers', 'conv5a', 'layer4.0.conv2'
    ],
    delta_conv2d_frame=[
        'tools/benchmark_delta_conv.py', '--repeats', '1', '--warmup', '0', '--shares', '0.1',
        '--layouts', 'NHWC'
    ],
    movinet_stream=[
        'tools/benchmark_movinet_stream.py', '--windows', '2', '3', '--size', '32', '--repeats',
        '1', '--frames', '1'
    ],
    skipconv_video=[
        'tools/benchmark_skipconv_video.py', '--config', TINY_POSE, '--frames', '3', '--block', '4',
        '--relative', '0.05'
    ],
    skipconv_transaction=[
        'tools/benchmark_skipconv_transaction.py', '--config', TINY_POSE, '--frames', '4',
        '--repeats', '1', '--warmup', '0'
    ],
    cond_conv2d=[
        'tools/benchmark_cond_conv2d.py', '--repeats', '1', '--warmup', '0', '--experts', '2',
        '--batches', '1', '2', '--layers', 'dw 3x3 1152 @7', 'project 1x1 1152->320 @7'
    ],
    condconv_b0=[
        'tools/benchmark_condconv_b0.py', '--repeats', '1', '--warmup', '0', '--experts', '4',
        '--size', '64'
    ],
    skipconv_detection=[
        'tools/benchmark_skipconv_detection.py', '--frames', '5', '--warmup', '1', '--thresholds',
        '0'
    ],
    sampling_interp=[
        'tools/benchmark_sampling_interp.py', '--repeats', '1', '--warmup', '0', '--blocks',
        'layer3.1', '--densities', '0.4', '--interp-maps', '1', '--breakdown'
    ],
)


def test_every_benchmark_of_the_suite_has_a_tiny_run_here():
    assert set(TINY_RUNS) == set(NAMES)
    for benchmark in BENCHMARKS:
        scripts = {run.script for run in benchmark.full + benchmark.quick}
        assert scripts == {TINY_RUNS[benchmark.name][0]}, benchmark.name
        assert (REPO / TINY_RUNS[benchmark.name][0]).is_file()


needs_extension = pytest.mark.skipif(
    not has_extension(), reason='the compiled extension is not built: the op benchmarks refuse '
    'to run without it')


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    out = tmp_path_factory.mktemp('records')
    for name, argv in TINY_RUNS.items():
        done = subprocess.run([sys.executable, *argv, '--json',
                               str(out / f'{name}.json')], cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, f'{name}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}'
    return out


@needs_extension
@pytest.mark.parametrize('name', NAMES)
def test_each_script_writes_a_valid_record_of_its_benchmark(records, name):
    record = load_record(records / f'{name}.json')
    assert record['benchmark'] == name and record['environment']['threads'] == 2
    assert record['commands'][0].startswith(f'python {TINY_RUNS[name][0]}')
    assert '--json' not in record['commands'][0]
    for row in record['rows']:
        for column in record['columns']:
            value = row[column['key']]
            assert value is None or isinstance(value, (str, int, float)), (column, value)


@needs_extension
def test_row_contents(records):
    video = load_record(records / 'skipconv_video.json')['rows']
    assert len(video) == 1 and video[0]['series'] == 'InputNormGate 4x4'
    assert video[0]['setting'] == 'relative 0.05' and 0 < video[0]['mac_ratio'] <= 1
    stream = load_record(records / 'movinet_stream.json')['rows']
    assert [r['window'] for r in stream] == [2, 3]
    assert all(r['first_window_max_abs_diff'] < 1e-4 for r in stream)  # streaming is exact
    block = load_record(records / 'sampling_interp.json')['rows'][0]
    assert 0 < block['mac_share'] < 1 and 'efficiency_at_dense_rate' in block['breakdown']['bound']
    detection = load_record(records / 'skipconv_detection.json')['rows']
    assert detection[0]['threshold'] == 0 and detection[0]['max_rel_error'] < 1e-4


@needs_extension
def test_the_page_renders_from_every_record(records, tmp_path):
    page = tmp_path / 'benchmarks.md'
    render_page_file(records, page)
    text = page.read_text()
    assert 'Not measured yet' not in text
    for name in NAMES:
        assert f'\n## {name}\n' in text
    assert (records / 'skipconv_video.png').is_file()
    assert (records / 'movinet_stream.png').is_file()
