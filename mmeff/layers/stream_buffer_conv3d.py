"""``StreamBufferConv3d``: a causal 3D convolution that streams with a buffer of past frames.

MoViNet's stream buffer (Kondratyuk et al., CVPR 2021, arXiv 2103.11511). For temporal kernel
``k_t`` and temporal dilation ``d_t`` the layer keeps, per stream, the last ``b = d_t (k_t - 1)``
input frames and convolves ``concat_time(buffer, clip)`` 'valid' in time::

    X_i = concat_time(B_i, x_i)         B_0 = zeros      (b + t frames)
    y_i = conv3d(X_i)                   t frames, spatial padding as configured
    B_{i+1} = X_i[:, :, -b:]            (detached: no gradient flows into the buffer)

A fresh stream is exactly causal zero padding, so feeding a video as one clip, frame by frame or
in sub-clips of any lengths gives the same outputs. Entries are replaced, never changed in place
(see :func:`mmeff.layers.stream_state.stream_transaction`). The buffer is a tuple of single
frames, so a streamed frame shifts it without copying the others; the temporal half of a
(2+1)D conv then sums its k_t frames directly (no concatenation).
"""
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import MODELS
from .stream_state import StreamStateful, check_stream_input


@dataclass(frozen=True)
class StreamBuffer:
    """What one StreamBufferConv3d keeps for one stream: the last input frames."""
    frames: Tuple[Tensor, ...]  # b frames, oldest first, each (N, C_in, 1, H, W), detached


@MODELS.register_module()
class StreamBufferConv3d(StreamStateful, nn.Conv3d):
    """``nn.Conv3d`` (same arguments and weights) made causal in time and streamable.

    Args:
        *args, **kwargs: as ``nn.Conv3d``; zero padding only. The temporal stride must be 1.
            The temporal entry of ``padding`` must be 0 or the symmetric 'same' padding
            ``d_t (k_t - 1) / 2`` (so it drops into stock backbones via ``conv_cfg``); either way
            time is padded causally and the output has as many frames as the input.

    Attributes:
        check_finite: reject inputs with NaN/Inf (one reduction per call); a network that checks
            its own input may switch it off.

    Shapes: (N, C_in, T, H, W) -> (N, C_out, T, H_out, W_out), any T >= 1 per call. The buffer
    is per stream (``mmeff.stream``), also in training, where it is stored detached (truncated
    backpropagation through time when training clip by clip in one stream).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.padding_mode != 'zeros' or isinstance(self.padding, str):
            raise ValueError('StreamBufferConv3d needs zero padding given as integers, got '
                             f'padding={self.padding!r}, padding_mode={self.padding_mode!r}')
        if self.stride[0] != 1:
            raise ValueError('StreamBufferConv3d: a temporal stride > 1 cannot be streamed '
                             f'exactly, got stride={self.stride}')
        self.buffer_size = self.dilation[0] * (self.kernel_size[0] - 1)
        if self.padding[0] not in (0, self.buffer_size / 2):
            raise ValueError(f'StreamBufferConv3d: temporal padding must be 0 or '
                             f'{self.buffer_size / 2:g} (time is padded causally), got '
                             f'padding={self.padding}')
        self.spatial_padding = (0, self.padding[1], self.padding[2])
        # depthwise k_t x 1 x 1 (the temporal half of a (2+1)D conv): a weighted sum of shifted
        # frames, much faster on CPU than PyTorch's grouped conv3d
        self.temporal_depthwise = (self.kernel_size[1:] == (1, 1) and self.stride == (1, 1, 1)
                                   and self.groups == self.in_channels == self.out_channels)
        self.check_finite = True

    def forward(self, x: Tensor) -> Tensor:
        entry: Optional[StreamBuffer] = self.load_entry() if self.buffer_size else None
        check_stream_input(
            type(self).__name__, x, self.in_channels, None if entry is None else entry.frames[0],
            finite=self.check_finite)
        if not self.buffer_size:
            return self._conv(x, x.shape[2])
        if entry is None:
            past = (x.new_zeros(x.shape[0], x.shape[1], 1, *x.shape[3:]), ) * self.buffer_size
        else:
            past = tuple(frame.to(x.dtype) for frame in entry.frames)
        # copies of the newest frames: the caller may change x in place later
        newest = x[:, :, -self.buffer_size:].detach().clone().split(1, dim=2)
        self.store_entry(StreamBuffer((past + newest)[-self.buffer_size:]))
        if self.temporal_depthwise and x.shape[2] == 1:  # streaming: no concatenation
            frames = past + (x, )
            return self._temporal_depthwise(lambda i: frames[i])
        return self._conv(torch.cat(past + (x, ), dim=2), x.shape[2])

    def _conv(self, x: Tensor, frames: int) -> Tensor:
        """'valid' in time: (N, C_in, b + frames, H, W) -> (N, C_out, frames, H_out, W_out)."""
        if self.temporal_depthwise:
            return self._temporal_depthwise(lambda i: x[:, :, i:i + frames])
        return F.conv3d(x, self.weight, self.bias, self.stride, self.spatial_padding, self.dilation,
                        self.groups)

    def _temporal_depthwise(self, frames_from: Callable[[int], Tensor]) -> Tensor:
        """sum_i w[:, i] * frames_from(i d_t) (+ bias), where ``frames_from(j)`` is the input
        from time offset j on: the depthwise k_t x 1 x 1 conv as k_t fused multiply-adds."""
        weight = self.weight.view(1, self.out_channels, self.kernel_size[0], 1, 1)
        step = self.dilation[0]
        if self.bias is None:
            out = frames_from(0) * weight[:, :, 0:1]
        else:
            out = torch.addcmul(self.bias.view(1, -1, 1, 1, 1), frames_from(0), weight[:, :, 0:1])
        for i in range(1, self.kernel_size[0]):
            out = torch.addcmul(out, frames_from(i * step), weight[:, :, i:i + 1])
        return out

    def extra_repr(self) -> str:
        return super().extra_repr() + f', buffer_size={self.buffer_size}'
