"""``OutputSparseConv2d``: ``nn.Conv2d`` that can compute only selected output positions."""
from typing import Optional

from torch import Tensor, nn

from ..ops import sparse_conv2d
from ..registry import MODELS


@MODELS.register_module()
class OutputSparseConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same arguments and weights) whose forward takes an output mask.

    ``forward(x)`` is the dense convolution; ``forward(x, mask, out)`` computes the positions
    where ``mask`` (bool, (N, H_out, W_out)) is true into ``out`` (N, C_out, H_out, W_out),
    keeping its other positions, with :func:`mmeff.ops.sparse_conv2d`. Zero padding only.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.padding_mode != 'zeros':
            raise ValueError(
                f'OutputSparseConv2d supports padding_mode="zeros" only, got {self.padding_mode!r}')
        if isinstance(self.padding, str):
            raise ValueError(
                f'OutputSparseConv2d needs explicit integer padding, got {self.padding!r}')

    def forward(self, x: Tensor, mask: Optional[Tensor] = None,
                out: Optional[Tensor] = None) -> Tensor:
        if mask is None and out is None:
            return super().forward(x)
        return sparse_conv2d(x, self.weight, self.bias, mask, stride=self.stride,
                             padding=self.padding, dilation=self.dilation, groups=self.groups,
                             out=out)
