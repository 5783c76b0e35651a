"""PeakMemory sees a large temporary allocation inside its block and not one before it."""
import pytest
import torch

from mmeff.engine import PeakMemory


@pytest.mark.skipif(not PeakMemory.cpu_supported(), reason='needs Linux /proc/self/clear_refs')
def test_peak_rss_covers_the_block_only():
    big = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched, then freed before the block
    del big
    with PeakMemory() as quiet:
        torch.zeros(16)
    with PeakMemory() as busy:
        torch.ones(64 * 2**20 // 4).sum()
    assert busy.peak_bytes - quiet.peak_bytes > 48 * 2**20
