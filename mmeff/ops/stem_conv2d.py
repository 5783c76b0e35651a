"""The first conv of a network on a streamed frame (few input channels), as one op.

For an RGB frame, oneDNN's NCHW convolution and the frame's finiteness check each read the
input; ``torch.ops.mmeff.stem_conv2d`` splits each input plane into stride phases once, checks
it in the same pass and sums all taps of a vector of outputs in registers, with the bias and
the activation fused (see its C++ source). :func:`stem_conv2d_reference` (plain PyTorch) is
its oracle and the path for autograd, other devices and when the extension is absent.
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import NonFiniteError, reraise_non_finite
from .extension import KERNEL_DTYPES, conv_geometry, register_fake, select_kernel
from .movinet_block_frame import ACTIVATIONS
from .sparse_conv2d import check_output_size

IntPair = Union[int, Tuple[int, int]]
#: The most input channels the compiled kernel takes.
STEM_MAX_IN_CHANNELS = 8
NON_FINITE_INPUT = ("the input contains NaN or Inf; it was rejected and the stream's state is "
                    "unchanged")


def stem_conv2d_reference(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, *,
                          stride: IntPair = 1, padding: IntPair = 0, activation: str = 'identity',
                          check_finite: bool = False) -> Tensor:
    """Plain PyTorch; see :func:`stem_conv2d`."""
    if check_finite and not torch.isfinite(x.sum()):
        raise NonFiniteError(NON_FINITE_INPUT)
    return ACTIVATIONS[activation](F.conv2d(x, weight, bias, stride, padding))


def stem_conv2d(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, *, stride: IntPair = 1,
                padding: IntPair = 0, activation: str = 'identity',
                check_finite: bool = False) -> Tensor:
    """``act(conv2d(x, weight, bias, stride, padding))`` for inputs with few channels.

    Args:
        x: (N, C_in, H, W), C_in <= :data:`STEM_MAX_IN_CHANNELS` for the kernel, float32/64.
        weight, bias: (C_out, C_in, kh, kw), optional (C_out,); one group, dilation 1.
        stride, padding: as in ``F.conv2d`` (zero padding).
        activation: 'identity', 'relu' or 'hswish'.
        check_finite: raise :class:`~mmeff.ops.errors.NonFiniteError` (a ValueError) if ``x``
            holds NaN or Inf (in the same pass).

    Returns:
        (N, C_out, H_out, W_out), contiguous. The compiled kernel runs by the device policy
        (:func:`~mmeff.ops.extension.select_kernel`) for ``x`` with at most 8 channels;
        otherwise the reference.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f'stem_conv2d: activation must be one of {sorted(ACTIVATIONS)}, got '
                         f'{activation!r}')
    stride, padding, dilation = conv_geometry('stem_conv2d', stride, padding)
    if x.dim() == 4 and weight.dim() == 4:
        check_output_size('stem_conv2d', x, weight.shape[-2:], stride, padding, dilation)
    kernel = select_kernel(
        'stem_conv2d', x, (x, weight, bias), supported=x.dtype in KERNEL_DTYPES and x.dim() == 4
        and x.shape[1] <= STEM_MAX_IN_CHANNELS)
    if kernel is None:
        return stem_conv2d_reference(x, weight, bias, stride=stride, padding=padding,
                                     activation=activation, check_finite=check_finite)
    try:
        return kernel(x, weight, bias, stride, padding, activation, check_finite)
    except ValueError as error:
        reraise_non_finite(error, x, NON_FINITE_INPUT)


@register_fake('stem_conv2d')
def _stem_conv2d_fake(x, weight, bias, stride, padding, activation, check_finite):
    """Meta kernel: the output shape."""
    out_hw = [(size + 2 * p - k) // s + 1
              for size, k, s, p in zip(x.shape[2:], weight.shape[2:], stride, padding)]
    return x.new_empty(x.shape[0], weight.shape[0], *out_hw)
