"""``CondConv2dAdaptivePadding``: :class:`CondConv2d` with TensorFlow's 'same' padding, the
padding of mmcv's ``Conv2dAdaptivePadding`` and of timm's ``tf_*`` models."""
import math
from typing import Optional, Tuple

import torch.nn.functional as F
from torch import Tensor

from ..ops.cond_conv2d import cond_conv2d_checked_geometry
from ..registry import MODELS
from .cond_conv2d import CondConv2d, IntPair


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> Tuple[int, int]:
    """TensorFlow 'same' padding of one axis: (before, after), the odd pixel after, so that
    the output has ``ceil(size / stride)`` pixels."""
    total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


@MODELS.register_module()
class CondConv2dAdaptivePadding(CondConv2d):
    """:class:`CondConv2d` padded like ``Conv2dAdaptivePadding`` (TensorFlow 'same'): the
    output is ``ceil(H / stride)`` × ``ceil(W / stride)`` and an odd total pad puts the extra
    pixel at the bottom and right.

    Where the pad is symmetric (stride 1, odd kernel) the op pads; otherwise the input is
    zero-padded first. ``padding`` is accepted for ``conv_cfg`` compatibility and ignored,
    as in mmcv's ``Conv2dAdaptivePadding``.

    Shape:
        x (B, C_in, H, W), routing (B, E) -> (B, C_out, ceil(H/stride_h), ceil(W/stride_w)).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair,
                 stride: IntPair = 1, padding: IntPair = 0, **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, **kwargs)

    def forward(self, x: Tensor, routing: Optional[Tensor] = None) -> Tensor:
        routing = self.resolve_routing(x, routing)
        pad_h, pad_w = (same_padding(
            size, k, s,
            d) for size, k, s, d in zip(x.shape[2:], self.kernel_size, self.stride, self.dilation))
        if pad_h[0] == pad_h[1] and pad_w[0] == pad_w[1]:
            padding = (pad_h[0], pad_w[0])
        else:
            x, padding = F.pad(x, (*pad_w, *pad_h)), (0, 0)
        return cond_conv2d_checked_geometry(x, self.experts(), self.bias, routing, self.stride,
                                            padding, self.dilation, self.groups)
