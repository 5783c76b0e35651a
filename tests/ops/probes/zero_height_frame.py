"""Zero-height inputs with padding through the frame ops: must not crash, must match the refs."""
import sys

import torch

from mmeff.ops import commit_changed_windows, skip_conv2d_frame
from mmeff.ops.commit_changed_windows import block_input_windows, commit_changed_windows_reference
from mmeff.ops.skip_conv2d_frame import skip_conv2d_frame_reference

x = torch.randn(1, 2, 0, 5)
conv = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1))
snap = block_input_windows(torch.randn(1, 2, 0, 5), 2, (1, 1), **conv).contiguous()
snap_ref = snap.clone()
if sys.argv[1] == 'commit':
    got = commit_changed_windows(x, snap, 0.0, block_size=2, kernel_size=(1, 1), **conv)
    want = commit_changed_windows_reference(x, snap_ref, 0.0, block_size=2, kernel_size=(1, 1),
                                            **conv)
    assert torch.equal(got, want) and torch.equal(snap, snap_ref), (got, want)
else:
    weight, bias = torch.randn(3, 2, 1, 1), torch.randn(3)
    out, out_ref = torch.zeros(1, 3, 2, 7), torch.zeros(1, 3, 2, 7)
    n = skip_conv2d_frame(x, snap, out, weight, bias, 0.0, block_size=2, groups=1, dense_above=1.0,
                          **conv)
    m = skip_conv2d_frame_reference(x, snap_ref, out_ref, weight, bias, 0.0, block_size=2, groups=1,
                                    dense_above=1.0, **conv)
    assert n == m and torch.equal(out, out_ref), (n, m, out, out_ref)
print('ok')
