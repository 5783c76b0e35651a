"""PeakMemory and live_heap_bytes in a fresh process (tests/engine/test_peak_memory.py), where
no freed pages of earlier work are reused. ``peak``: prints the peak RSS of a block allocating
64 MiB minus that of a quiet block; ``heap``: the live heap bytes 1,000 retained 4 kB tensors
add."""
import json
import sys

import torch

from mmeff.engine import PeakMemory, live_heap_bytes

if sys.argv[1] == 'peak':
    with PeakMemory() as quiet:
        torch.zeros(16)
    with PeakMemory() as busy:
        torch.ones(64 * 2**20 // 4).sum()
    print(json.dumps(dict(growth=busy.peak_bytes - quiet.peak_bytes)))
else:
    before = live_heap_bytes()
    kept = [torch.ones(1000) for _ in range(1000)]  # 4 MB in small blocks
    print(json.dumps(dict(growth=live_heap_bytes() - before)))
