"""Depthwise 2-D convolution (one filter per channel) with a CPU kernel for small maps.

oneDNN spends 90-490 us on one depthwise conv of a single video frame (MoViNet-A0's at 172 px,
2 threads), mostly per-call work; ``torch.ops.mmeff.depthwise_conv2d`` computes each channel
plane from stride phases with register-held FMA sums (see its C++ source) in 1/2 to 1/6 of
that.
``depthwise_conv2d_reference`` (``F.conv2d`` with ``groups=C``) is its oracle and the path for
autograd, other devices and when the extension is absent.
"""
from typing import Optional, Tuple, Union

import torch.nn.functional as F
from torch import Tensor

from .extension import KERNEL_DTYPES, conv_geometry, register_fake, select_kernel
from .sparse_conv2d import check_output_size

IntPair = Union[int, Tuple[int, int]]


def depthwise_conv2d_reference(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, *,
                               stride: IntPair = 1, padding: IntPair = 0,
                               dilation: IntPair = 1) -> Tensor:
    """``F.conv2d(x, weight, bias, stride, padding, dilation, groups=C)``."""
    return F.conv2d(x, weight, bias, stride, padding, dilation, x.shape[1])


def depthwise_conv2d(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, *,
                     stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1) -> Tensor:
    """Depthwise convolution, zero padding.

    Args:
        x: (N, C, H, W), float32 or float64.
        weight: (C, 1, kh, kw).
        bias: optional (C,).
        stride, padding, dilation: as in ``torch.nn.functional.conv2d``.

    Returns:
        (N, C, H_out, W_out), contiguous. The compiled kernel runs by the device policy
        (:func:`~mmeff.ops.extension.select_kernel`); otherwise the reference.
    """
    if x.dim() != 4 or weight.dim() != 4 or tuple(weight.shape[:2]) != (x.shape[1], 1):
        raise ValueError('depthwise_conv2d: expected x (N, C, H, W) and weight (C, 1, kh, kw), '
                         f'got {tuple(x.shape)} and {tuple(weight.shape)}')
    stride, padding, dilation = conv_geometry('depthwise_conv2d', stride, padding, dilation)
    check_output_size('depthwise_conv2d', x, weight.shape[-2:], stride, padding, dilation)
    kernel = select_kernel('depthwise_conv2d', x, (x, weight, bias), supported=x.dtype
                           in KERNEL_DTYPES)
    if kernel is None:
        return depthwise_conv2d_reference(x, weight, bias, stride=stride, padding=padding,
                                          dilation=dilation)
    return kernel(x, weight, bias, stride, padding, dilation)


@register_fake('depthwise_conv2d')
def _depthwise_conv2d_fake(x, weight, bias, stride, padding, dilation):
    """Meta kernel: the output shape."""
    out_hw = [(size + 2 * p - d * (k - 1) - 1) // s + 1
              for size, k, s, p, d in zip(x.shape[2:], weight.shape[2:], stride, padding, dilation)]
    return x.new_empty(x.shape[0], x.shape[1], *out_hw)
