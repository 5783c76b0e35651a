"""PeakMemory sees a large allocation inside its block; live_heap_bytes sees retained tensors."""
import subprocess
import sys

import pytest
import torch

from mmeff.engine import PeakMemory, live_heap_bytes

# a fresh process: in a long test session freed pages are reused and RSS need not grow
PEAK_SCRIPT = '''
import torch
from mmeff.engine import PeakMemory
with PeakMemory() as quiet:
    torch.zeros(16)
with PeakMemory() as busy:
    torch.ones(64 * 2**20 // 4).sum()
print(busy.peak_bytes - quiet.peak_bytes)
'''


@pytest.mark.skipif(not PeakMemory.cpu_supported(), reason='needs Linux /proc/self/clear_refs')
def test_peak_rss_covers_the_block():
    done = subprocess.run([sys.executable, '-c', PEAK_SCRIPT], capture_output=True, text=True,
                          check=True)
    assert int(done.stdout.split()[-1]) > 48 * 2**20


@pytest.mark.skipif(live_heap_bytes() is None, reason='needs glibc >= 2.33 (mallinfo2)')
def test_live_heap_bytes_sees_retained_tensors():
    before = live_heap_bytes()
    kept = [torch.ones(1000) for _ in range(1000)]  # 4 MB in small blocks
    assert live_heap_bytes() - before > 3.5e6
    del kept
