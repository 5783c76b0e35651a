"""``CumulativeAvgPool3d``: causal global average pooling, a running mean over all frames seen.

MoViNet's cumulative global average pooling (CGAP, arXiv 2103.11511, Sec. 3.2)::

    CGAP(x)_t = (1 / t) * sum_{tau <= t} mean_HW(x_tau)

over every frame of the stream so far. Per stream it keeps the running sum (N, C) and the frame
count, so its memory does not grow with the video. The running sum is continued with one
``cumsum`` over ``[previous sum, frame means]``, the same additions in the same order as a
single pass over the whole video.
"""
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from ..registry import MODELS
from .stream_state import StreamStateful, check_stream_input


@dataclass(frozen=True)
class RunningSum:
    """What one CumulativeAvgPool3d keeps for one stream."""
    total: Tensor  # (N, C, 1, 1, 1): sum of the spatial means of all frames seen, detached
    frames: int  # number of frames seen


@MODELS.register_module()
class CumulativeAvgPool3d(StreamStateful, nn.Module):
    """Running spatio-temporal mean, one output per frame.

    Args:
        channels: number of input channels (checked on every call).

    Shapes: (N, C, T, H, W) -> (N, C, T, 1, 1); output frame t is the mean over H, W and over
    all frames of the stream up to and including t. The sum is stored detached.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.check_finite = True  # see StreamBufferConv3d.check_finite

    def frames_seen(self) -> int:
        """Frames the active stream has passed through this layer so far."""
        entry: Optional[RunningSum] = self.load_entry()
        return 0 if entry is None else entry.frames

    def forward(self, x: Tensor) -> Tensor:
        entry: Optional[RunningSum] = self.load_entry()
        check_stream_input(
            type(self).__name__, x, self.channels, None if entry is None else entry.total,
            spatial=False, finite=self.check_finite)
        frame_means = x.mean(dim=(3, 4), keepdim=True)
        if entry is not None and x.shape[2] == 1:  # streaming: one addition, no cumsum
            total = entry.total.to(x.dtype) + frame_means
            self.store_entry(RunningSum(total.detach(), entry.frames + 1))
            return total / (entry.frames + 1)
        if entry is None:
            sums = torch.cumsum(frame_means, dim=2)
            seen = 0
        else:
            sums = torch.cat([entry.total.to(x.dtype), frame_means], dim=2)
            sums = torch.cumsum(sums, dim=2)[:, :, 1:]
            seen = entry.frames
        self.store_entry(RunningSum(sums[:, :, -1:].detach().clone(), seen + x.shape[2]))
        counts = torch.arange(seen + 1, seen + x.shape[2] + 1, device=x.device, dtype=x.dtype)
        return sums / counts.view(1, 1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f'channels={self.channels}'
