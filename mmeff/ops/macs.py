"""Multiply-accumulate (MAC) accounting of convolutions, dense and masked.

A conv with weight (C_out, C_in/groups, kh, kw) costs ``weight.numel()`` MACs per output
position (groups are already in the weight's shape); bias additions are not counted.
"""
from typing import Sequence, Union

import torch
from torch import Tensor

WeightLike = Union[Tensor, Sequence[int]]


def conv_macs_per_position(weight: WeightLike) -> int:
    """MACs of one output position (all output channels) of a conv with this weight/shape."""
    shape = weight.shape if isinstance(weight, Tensor) else weight
    macs = 1
    for s in shape:
        macs *= int(s)
    return macs


def dense_conv_macs(weight: WeightLike, output_size: Sequence[int]) -> int:
    """MACs of the dense conv over an output of size (N, H_out, W_out) (or (H_out, W_out))."""
    positions = 1
    for s in output_size:
        positions *= int(s)
    return conv_macs_per_position(weight) * positions


def executed_conv_macs(weight: WeightLike, mask: Tensor) -> int:
    """MACs executed by ``sparse_conv2d`` for a bool mask (N, H_out, W_out) of active outputs."""
    if mask.dtype != torch.bool:
        raise TypeError(f'executed_conv_macs: mask must be bool, got {mask.dtype}')
    return conv_macs_per_position(weight) * int(mask.sum().item())
