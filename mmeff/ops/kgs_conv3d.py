"""Conv3d with a kernel-group structured (KGS) sparse weight, packed per block of filters.

RT3D's KGS sparsity (Niu, Sun et al., AAAI 2021) removes, inside each kernel group of g_M
filters x g_N input channels, the same kernel positions from all its kernels. In the GEMM view
of the conv, W (M, N·K) with column j = n·K + p, every row block of g_M filters then keeps one
shared set of columns. The packed weight stores that set per block and the block's dense
g_M x |kept| matrix:

- ``values`` (entries, g_M): ``values[block_ptr[a] + c, r] = W[a·g_M + r, columns[block_ptr[a]
  + c]]``;
- ``block_ptr`` (blocks + 1,) int64, blocks = ceil(M / g_M): block a owns the entries
  ``block_ptr[a]:block_ptr[a + 1]``;
- ``columns`` (entries,) int64: the kept columns of each block.

``torch.ops.mmeff.kgs_conv3d`` gathers each kept im2col row of a tile once, for all blocks that
keep it, and runs one register-blocked GEMM per block over its kept columns; blocks whose
groups are all removed (vanilla sparsity) cost nothing but their bias.
``kgs_conv3d_reference`` (unpack, then ``F.conv3d``) is its oracle and the path for autograd,
other devices and when the extension is absent.
"""
import math
import numbers
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .extension import KERNEL_DTYPES, register_fake, select_kernel

Triple = Union[int, Sequence[int]]


def int_triple(name: str, value: Triple, minimum: int) -> Tuple[int, int, int]:
    """``value``, an int or three ints (not bools), as a triple of ints >= ``minimum``."""
    triple = tuple(value) if isinstance(value, (tuple, list, torch.Size)) else (value, ) * 3
    if len(triple) != 3 or any(
            isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in triple):
        raise ValueError(f'kgs_conv3d: {name} must be an int or three ints, got {value!r}')
    if min(triple) < minimum:
        raise ValueError(f'kgs_conv3d: {name} must be >= {minimum}, got {triple}')
    return tuple(int(v) for v in triple)


def pack_kgs_conv3d_weight(weight: Tensor, mask: Tensor,
                           group_rows: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Pack ``weight * mask`` (M, N, Kt, Kh, Kw) into (values, block_ptr, columns).

    A block keeps a column where any of its filters' mask is True there; for a KGS mask that is
    exactly the group's kept positions. ``group_rows`` is g_M; the last block may hold fewer
    filters (its missing rows are zero in ``values``).
    """
    if weight.dim() != 5 or mask.shape != weight.shape or mask.dtype != torch.bool:
        raise ValueError('pack_kgs_conv3d_weight: expected a (M, N, Kt, Kh, Kw) weight and a bool '
                         f'mask of its shape, got {tuple(weight.shape)} and {mask.dtype} '
                         f'{tuple(mask.shape)}')
    if isinstance(group_rows, bool) or not isinstance(group_rows, int) or group_rows < 1:
        raise ValueError(f'pack_kgs_conv3d_weight: group_rows must be an int >= 1, got '
                         f'{group_rows!r}')
    m = weight.shape[0]
    blocks = math.ceil(m / group_rows)
    pad = blocks * group_rows - m
    matrix = F.pad((weight * mask).reshape(m, -1), (0, 0, 0, pad))
    kept = F.pad(mask.reshape(m, -1), (0, 0, 0, pad)).view(blocks, group_rows, -1).any(1)
    block_index, columns = kept.nonzero(as_tuple=True)
    values = matrix.view(blocks, group_rows, -1)[block_index, :, columns].contiguous()
    counts = torch.bincount(block_index, minlength=blocks)
    block_ptr = F.pad(counts.cumsum(0), (1, 0))
    return values, block_ptr.to(torch.int64), columns.to(torch.int64)


def unpack_kgs_conv3d_weight(values: Tensor, block_ptr: Tensor, columns: Tensor, out_channels: int,
                             in_channels: int, kernel_size: Triple) -> Tensor:
    """The dense (M, N, Kt, Kh, Kw) weight of a packed one (zero where nothing is kept)."""
    kernel = int_triple('kernel_size', kernel_size, 1)
    group_rows = values.shape[1]
    blocks = block_ptr.numel() - 1
    block_index = torch.repeat_interleave(torch.arange(blocks, device=values.device),
                                          block_ptr.diff())
    matrix = values.new_zeros(blocks, group_rows, in_channels * math.prod(kernel))
    matrix[block_index, :, columns] = values
    return matrix.view(blocks * group_rows, -1)[:out_channels].view(out_channels, in_channels,
                                                                    *kernel)


def kgs_conv3d_reference(x: Tensor, values: Tensor, block_ptr: Tensor, columns: Tensor,
                         bias: Optional[Tensor], out_channels: int, kernel_size: Triple,
                         stride: Triple = 1, padding: Triple = 0, dilation: Triple = 1) -> Tensor:
    """``F.conv3d`` with the unpacked weight."""
    weight = unpack_kgs_conv3d_weight(values, block_ptr, columns, out_channels, x.shape[1],
                                      kernel_size)
    return F.conv3d(x, weight, bias, stride, padding, dilation)


def kgs_conv3d(x: Tensor, values: Tensor, block_ptr: Tensor, columns: Tensor,
               bias: Optional[Tensor], out_channels: int, kernel_size: Triple, *,
               stride: Triple = 1, padding: Triple = 0, dilation: Triple = 1) -> Tensor:
    """Conv3d of ``x`` with a packed weight (see the module docstring), zero padding.

    Args:
        x: (N, C, T, H, W), float32 or float64.
        values, block_ptr, columns: the packed weight of :func:`pack_kgs_conv3d_weight`.
        bias: optional (M,).
        out_channels: M.
        kernel_size, stride, padding, dilation: an int or three ints, as for ``nn.Conv3d``.

    Returns:
        (N, M, T_out, H_out, W_out), contiguous. The compiled kernel runs by the device policy
        (:func:`~mmeff.ops.extension.select_kernel`); otherwise the reference.
    """
    if x.dim() != 5:
        raise ValueError(f'kgs_conv3d: expected x (N, C, T, H, W), got {tuple(x.shape)}')
    if isinstance(out_channels, bool) or not isinstance(out_channels, int) or out_channels < 1:
        raise ValueError(f'kgs_conv3d: out_channels must be an int >= 1, got {out_channels!r}')
    kernel_size = int_triple('kernel_size', kernel_size, 1)
    stride = int_triple('stride', stride, 1)
    padding = int_triple('padding', padding, 0)
    dilation = int_triple('dilation', dilation, 1)
    kernel = select_kernel('kgs_conv3d', x, (values, block_ptr, columns, bias), supported=x.dtype
                           in KERNEL_DTYPES)
    if kernel is None:
        return kgs_conv3d_reference(x, values, block_ptr, columns, bias, out_channels, kernel_size,
                                    stride, padding, dilation)
    return kernel(x, values, block_ptr, columns, bias, out_channels, kernel_size, stride, padding,
                  dilation)


@register_fake('kgs_conv3d')
def _kgs_conv3d_fake(x, values, block_ptr, columns, bias, out_channels, kernel_size, stride,
                     padding, dilation):
    """Meta kernel: the output shape."""
    out = [(size + 2 * p - d * (k - 1) - 1) // s + 1
           for size, k, s, p, d in zip(x.shape[2:], kernel_size, stride, padding, dilation)]
    return x.new_empty(x.shape[0], out_channels, *out)
