"""Every compiled op's wrapper against its reference over zero- and one-sized dimensions,
memory layouts, dtypes, mixed devices and aliased buffers (the search is in
probes/op_properties.py; its contract is in that file's docstring)."""
from pathlib import Path

import pytest

from mmeff.ops import has_extension
from tests.helpers import run_probe

EXAMPLES_PER_OP = 80


@pytest.mark.skipif(not has_extension(), reason='mmeff.ops._ext is not built')
def test_no_input_crashes_an_op_or_gets_a_result_other_than_the_references():
    """In a fresh process: a crash fails this test, with the probe's last line naming the op
    it was searching, instead of ending pytest."""
    got = run_probe(
        Path(__file__).parent / 'probes' / 'op_properties.py', str(EXAMPLES_PER_OP), timeout=1200)
    failures = {op: result for op, result in got.items() if result != 'ok'}
    assert not failures, '\n\n'.join(f'{op}: {result}' for op, result in failures.items())
