"""2-D convolution evaluated only at selected output positions.

``sparse_conv2d`` is the kernel SkipConv and the sampling-interpolation blocks stand on: it
computes ``conv2d(x, weight, bias)`` at the output positions where ``mask`` is true and writes
them into ``out`` (other positions are kept, or zero without ``out``). The compiled kernels
(``torch.ops.mmeff.sparse_conv2d``) compute the selected 8x8 output tiles with register-blocked
micro-kernels and the remaining positions by gather-GEMM-scatter;
``sparse_conv2d_reference`` is the pure-PyTorch oracle and fallback.
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.utils import _pair

from .extension import KERNEL_DTYPES, conv_geometry, register_fake, select_kernel

IntPair = Union[int, Tuple[int, int]]

# From this share of active output positions on, sparse_conv2d runs the dense convolution
# (oneDNN) instead. Measured with tools/benchmark_sparse_conv.py --densities 0.5 0.6 0.75 0.9
# (docs/benchmarks.md#sparse_conv2d): at 60 % the compiled kernel is faster than the dense
# fallback (conv + masked merge) on every benchmarked layer, and faster than the dense conv
# alone (SkipConv's path when this many blocks fire) on all but the channels_last 1x1 and
# depthwise ones.
DENSE_CROSSOVER_DENSITY = 0.6


def conv2d_output_size(in_size: Tuple[int, int], kernel_size: Tuple[int, int], stride: Tuple[int,
                                                                                             int],
                       padding: Tuple[int, int], dilation: Tuple[int, int]) -> Tuple[int, int]:
    """(H_out, W_out) of a convolution, as ``torch.nn.Conv2d`` computes it."""
    return tuple((i + 2 * p - d * (k - 1) - 1) // s + 1
                 for i, k, s, p, d in zip(in_size, kernel_size, stride, padding, dilation))


def check_output_size(op_name: str, x: Tensor, kernel_size: Tuple[int, int], stride: Tuple[int,
                                                                                           int],
                      padding: Tuple[int, int], dilation: Tuple[int, int]) -> Tuple[int, int]:
    """The (H_out, W_out) of a conv of ``x``; a ValueError where ``torch.nn.functional.conv2d``
    refuses the sizes: an empty output, or an empty frame with images and channels."""
    if x.shape[0] and x.shape[1] and not min(x.shape[-2:]):
        raise ValueError(f'{op_name}: x of shape {tuple(x.shape)} has an empty frame; only a '
                         'zero batch or zero channels may come with one (as in F.conv2d)')
    out_hw = conv2d_output_size(tuple(x.shape[-2:]), tuple(kernel_size), stride, padding, dilation)
    if min(out_hw) < 1:
        raise ValueError(f'{op_name}: x of shape {tuple(x.shape)} is smaller than the '
                         f'(dilated) kernel; the output would be {out_hw[0]}x{out_hw[1]}')
    return out_hw


def _check_args(x: Tensor, weight: Tensor, bias: Optional[Tensor], mask: Optional[Tensor],
                out: Optional[Tensor], stride: Tuple[int, int], padding: Tuple[int, int],
                dilation: Tuple[int, int], groups: int) -> None:
    """Raise a ValueError/TypeError naming the argument that is wrong."""
    if x.dim() != 4:
        raise ValueError(
            f'sparse_conv2d: x must be 4-D (N, C_in, H, W), got shape {tuple(x.shape)}')
    if weight.dim() != 4:
        raise ValueError('sparse_conv2d: weight must be 4-D (C_out, C_in/groups, kh, kw), '
                         f'got shape {tuple(weight.shape)}')
    for name, values, least in (('stride', stride, 1), ('padding', padding, 0), ('dilation',
                                                                                 dilation, 1)):
        if min(values) < least:
            raise ValueError(f'sparse_conv2d: {name} must be >= {least}, got {values}')
    if groups < 1 or x.shape[1] % groups or weight.shape[0] % groups:
        raise ValueError(f'sparse_conv2d: groups={groups} must divide the input channels '
                         f'({x.shape[1]}) and the output channels ({weight.shape[0]})')
    if weight.shape[1] * groups != x.shape[1]:
        raise ValueError(f'sparse_conv2d: weight of shape {tuple(weight.shape)} expects '
                         f'{weight.shape[1] * groups} input channels with groups={groups}, '
                         f'but x has {x.shape[1]}')
    if not x.is_floating_point():
        raise TypeError(f'sparse_conv2d: x must be floating point, got {x.dtype}')
    named = [('weight', weight), ('bias', bias), ('out', out)]
    for name, t in named:
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f'sparse_conv2d: {name} dtype {t.dtype} differs from x dtype {x.dtype}')
    for name, t in named + [('mask', mask)]:
        if t is not None and t.device != x.device:
            raise ValueError(f'sparse_conv2d: {name} is on {t.device} but x is on {x.device}')
    if bias is not None and tuple(bias.shape) != (weight.shape[0], ):
        raise ValueError(f'sparse_conv2d: bias must have shape ({weight.shape[0]},), '
                         f'got {tuple(bias.shape)}')
    out_hw = check_output_size('sparse_conv2d', x, weight.shape[-2:], stride, padding, dilation)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise TypeError(f'sparse_conv2d: mask must be bool, got {mask.dtype}')
        if tuple(mask.shape) != (x.shape[0], *out_hw):
            raise ValueError('sparse_conv2d: mask must have the output shape (N, H_out, W_out) = '
                             f'{(x.shape[0], *out_hw)}, got {tuple(mask.shape)}')
    if out is not None:
        expected = (x.shape[0], weight.shape[0], *out_hw)
        if tuple(out.shape) != expected:
            raise ValueError('sparse_conv2d: out must have shape (N, C_out, H_out, W_out) = '
                             f'{expected}, got {tuple(out.shape)}')


def sparse_conv2d_reference(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None,
                            mask: Optional[Tensor] = None, *, stride: IntPair = 1,
                            padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1,
                            out: Optional[Tensor] = None) -> Tensor:
    """Pure-PyTorch ``sparse_conv2d``: a dense convolution, then a masked select.

    The oracle of the compiled kernels, their fallback, and their differentiable path.
    Arguments and result as in :func:`sparse_conv2d`.
    """
    dense = F.conv2d(x, weight, bias, _pair(stride), _pair(padding), _pair(dilation), groups)
    if mask is None:
        result = dense
    else:
        keep = out if out is not None else torch.zeros_like(dense)
        result = torch.where(mask.unsqueeze(1), dense, keep)
    if out is None:
        return result
    return out.copy_(result)


def sparse_conv2d(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None,
                  mask: Optional[Tensor] = None, *, stride: IntPair = 1, padding: IntPair = 0,
                  dilation: IntPair = 1, groups: int = 1, out: Optional[Tensor] = None) -> Tensor:
    """Convolution computed only at the output positions selected by ``mask``.

    Args:
        x: (N, C_in, H, W) input, float32 or float64, contiguous or channels_last.
        weight: (C_out, C_in / groups, kh, kw).
        bias: optional (C_out,).
        mask: bool (N, H_out, W_out), the output positions to compute; None computes all.
        stride, padding, dilation, groups: as in ``torch.nn.functional.conv2d``.
        out: optional (N, C_out, H_out, W_out); its selected positions are overwritten in
            place and all others are kept.

    Returns:
        The full-size (N, C_out, H_out, W_out) output: ``out`` itself when given, else a new
        tensor (x's memory format) that is zero at unselected positions.

    The compiled kernel runs when the extension is built, no input requires grad and the
    share of selected positions is below :data:`DENSE_CROSSOVER_DENSITY`; otherwise the
    dense reference runs (it is differentiable, and faster at high density).
    """
    stride, padding, dilation = conv_geometry('sparse_conv2d', stride, padding, dilation)
    _check_args(x, weight, bias, mask, out, stride, padding, dilation, groups)
    # an empty mask (a zero-size batch or output) selects nothing to skip: the dense conv
    density = 1.0 if mask is None or mask.numel() == 0 else mask.sum().item() / mask.numel()
    if density == 1.0:
        mask = None  # every position selected: the dense conv alone, no masked select
    kernel = select_kernel(
        'sparse_conv2d', x, (weight, bias, mask, out), supported=mask is not None
        and density < DENSE_CROSSOVER_DENSITY and x.dtype in KERNEL_DTYPES)
    if kernel is None:
        return sparse_conv2d_reference(x, weight, bias, mask, stride=stride, padding=padding,
                                       dilation=dilation, groups=groups, out=out)
    if out is None:
        memory_format = (torch.channels_last if not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last) else torch.contiguous_format)
        out = x.new_zeros(
            (x.shape[0], weight.shape[0], *mask.shape[1:])).contiguous(memory_format=memory_format)
    kernel(x, weight, bias, mask, out, stride, padding, dilation, groups)
    return out


@register_fake('sparse_conv2d')
def _sparse_conv2d_fake(x, weight, bias, mask, out, stride, padding, dilation, groups):
    """Meta kernel: the op only mutates ``out`` and returns nothing."""
    return None
