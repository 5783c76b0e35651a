"""PeakMemory sees a large allocation inside its block; live_heap_bytes sees retained tensors.
Both are measured in a fresh process: in a long test session freed pages are reused and RSS
need not grow."""
from pathlib import Path

import pytest

from mmeff.engine import PeakMemory, live_heap_bytes
from tests.helpers import run_probe

PROBE = Path(__file__).parent / 'probes' / 'peak_memory.py'


@pytest.mark.memory
@pytest.mark.skipif(not PeakMemory.cpu_supported(), reason='needs Linux /proc/self/clear_refs')
def test_peak_rss_covers_the_block():
    assert run_probe(PROBE, 'peak')['growth'] > 48 * 2**20


@pytest.mark.memory
@pytest.mark.skipif(live_heap_bytes() is None, reason='needs glibc >= 2.33 (mallinfo2)')
def test_live_heap_bytes_sees_retained_tensors():
    assert run_probe(PROBE, 'heap')['growth'] > 3.5e6
