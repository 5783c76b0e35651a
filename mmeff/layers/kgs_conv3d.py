"""``KGSConv3d``: the compact inference form of a kernel-group pruned ``nn.Conv3d``.

It holds the packed weight of :func:`mmeff.ops.pack_kgs_conv3d_weight` and runs
:func:`mmeff.ops.kgs_conv3d`: per block of g_M filters, one dense GEMM over the block's kept
(input channel, kernel position) columns. KGS and vanilla masks pack into whole blocks. A filter
mask (whole output channels removed) packs the kept filters densely: the conv computes only
them and the removed channels get their bias (zero without one). Same output as the masked
dense conv.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from ..ops import kgs_conv3d, pack_kgs_conv3d_weight
from ..registry import MODELS
from .kernel_group_sparsity import MASK, MASK_GROUP_SIZE, check_prunable


def filter_rows(mask: Tensor) -> Optional[Tensor]:
    """The kept output channels (int64) when ``mask`` removes whole filters and nothing inside
    the kept ones, else None."""
    rows = mask.reshape(mask.shape[0], -1)
    kept, any_kept = rows.all(1), rows.any(1)
    if not torch.equal(kept, any_kept) or bool(kept.all()):
        return None
    return kept.nonzero().flatten()


@MODELS.register_module()
class KGSConv3d(nn.Module):
    """A Conv3d with a packed kernel-group sparse weight (inference only: buffers, no grads).

    Shapes: (N, C_in, T, H, W) -> (N, C_out, T_out, H_out, W_out).

    Args:
        values, block_ptr, columns: the packed weight of the computed filters.
        bias: optional (C_out,).
        in_channels, out_channels: the conv's channels.
        kernel_size, stride, padding, dilation: three ints each.
        out_index: optional int64 (computed filters,): the output channel of each computed
            filter; the other channels are the bias. None: all C_out filters are computed.
    """

    def __init__(self, values: Tensor, block_ptr: Tensor, columns: Tensor, bias: Optional[Tensor],
                 in_channels: int, out_channels: int, kernel_size: Tuple[int, int, int],
                 stride: Tuple[int, int, int] = (1, 1, 1), padding: Tuple[int, int,
                                                                          int] = (0, 0, 0),
                 dilation: Tuple[int, int, int] = (1, 1, 1), out_index: Optional[Tensor] = None):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = tuple(kernel_size), tuple(stride)
        self.padding, self.dilation = tuple(padding), tuple(dilation)
        self.register_buffer('values', values)
        self.register_buffer('block_ptr', block_ptr)
        self.register_buffer('columns', columns)
        self.register_buffer('bias', bias)
        self.register_buffer('out_index', out_index)

    @classmethod
    def from_conv(cls, conv: nn.Conv3d, group_rows: Optional[int] = None) -> 'KGSConv3d':
        """Pack ``conv`` by its ``weight_mask`` buffer (all kept without one). ``group_rows``
        (g_M) defaults to the mask's group size."""
        check_prunable(conv)
        if conv.padding_mode != 'zeros' or isinstance(conv.padding, str):
            raise ValueError('KGSConv3d needs explicit zero padding, got padding='
                             f'{conv.padding!r}, padding_mode={conv.padding_mode!r}')
        weight = conv.weight.detach()
        mask = getattr(conv, MASK, None)
        mask = torch.ones_like(weight, dtype=torch.bool) if mask is None else mask
        if group_rows is None:
            recorded = getattr(conv, MASK_GROUP_SIZE, None)
            group_rows = int(recorded[0]) if recorded is not None and recorded[0] > 0 else 8
        out_index = filter_rows(mask)
        if out_index is not None:
            weight, mask = weight[out_index], mask[out_index]
        packed = pack_kgs_conv3d_weight(weight, mask, group_rows)
        bias = None if conv.bias is None else conv.bias.detach().clone()
        return cls(*packed, bias, conv.in_channels, conv.out_channels, conv.kernel_size,
                   conv.stride, conv.padding, conv.dilation, out_index)

    def computed_filters(self) -> int:
        return self.out_channels if self.out_index is None else self.out_index.numel()

    def forward(self, x: Tensor) -> Tensor:
        if self.out_index is None:
            return kgs_conv3d(x, self.values, self.block_ptr, self.columns, self.bias,
                              self.out_channels, self.kernel_size, stride=self.stride,
                              padding=self.padding, dilation=self.dilation)
        bias = None if self.bias is None else self.bias[self.out_index]
        kept = kgs_conv3d(x, self.values, self.block_ptr, self.columns, bias,
                          self.computed_filters(), self.kernel_size, stride=self.stride,
                          padding=self.padding, dilation=self.dilation)
        out = kept.new_zeros(kept.shape[0], self.out_channels, *kept.shape[2:])
        if self.bias is not None:
            out += self.bias.view(-1, 1, 1, 1)
        out[:, self.out_index] = kept
        return out

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'stride={self.stride}, padding={self.padding}, group_rows={self.values.shape[1]}, '
                f'kept_columns={self.columns.numel()}, computed_filters={self.computed_filters()}')
