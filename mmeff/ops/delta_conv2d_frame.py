"""One frame of a value-gated SkipConv2d: per-value change detection and an input-sparse conv.

``delta_conv2d_frame`` fires every input value that moved more than ``threshold`` from the
reference the cached output was computed from (``|x - reference| > threshold``, value by
value), adds the fired changes to the cached output through the conv and commits them to the
reference. Only fired values are multiplied, each by C_out/groups weights per output position
it reaches, so the work follows the number of changed values, not of changed positions. The
invariant of the drift-free SkipConv holds up to float rounding:

    output == conv2d(reference) + bias,        |reference - x| <= threshold  (every value)
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import NonFiniteError, reraise_non_finite
from .extension import KERNEL_DTYPES, check_non_negative, check_share, register_fake, select_kernel


def pack_delta_conv2d_weight(weight: Tensor, groups: int) -> Tensor:
    """(C_out, C_in/groups, kh, kw) conv weight -> contiguous (C_in, kh, kw, C_out/groups):
    for every input channel and tap, the weights of the output channels it feeds (a channel's
    taps side by side, as the kernel reads them for one fired value)."""
    c_out, c_in_g, kh, kw = weight.shape
    return (weight.reshape(groups, c_out // groups, c_in_g, kh,
                           kw).permute(0, 2, 3, 4, 1).reshape(groups * c_in_g, kh, kw,
                                                              c_out // groups).contiguous())


def fired_value_macs(fired: Tensor, weight: Tensor, *, stride: Tuple[int, int],
                     padding: Tuple[int, int], dilation: Tuple[int, int], groups: int) -> int:
    """MACs of an input-sparse conv that multiplies only the ``fired`` values (bool, the
    input's shape): per output position, the fired values of its window times C_out/groups."""
    n, c_in, h, w = fired.shape
    per_group = fired.to(torch.float64).view(n, groups, c_in // groups, h, w).sum(2)
    ones = per_group.new_ones(groups, 1, *weight.shape[-2:])
    window = F.conv2d(per_group, ones, None, stride, padding, dilation, groups)
    return int(window.sum().item()) * (weight.shape[0] // groups)


def delta_conv2d_frame_reference(x: Tensor, reference: Tensor, output: Tensor, weight: Tensor,
                                 threshold: float, *, stride: Tuple[int, int], padding: Tuple[int,
                                                                                              int],
                                 dilation: Tuple[int, int], groups: int) -> int:
    """Pure-PyTorch :func:`delta_conv2d_frame`: the oracle and the fallback. Writes
    ``reference`` and ``output`` only once everything is computed, so a refused call changes
    neither."""
    if not torch.isfinite(x).all():
        raise NonFiniteError('delta_conv2d_frame: x contains NaN or Inf')
    delta = x - reference
    fired = delta.abs() > threshold
    delta = torch.where(fired, delta, torch.zeros_like(delta))
    updated = output + F.conv2d(delta, weight, None, stride, padding, dilation, groups)
    for name, buffer, value in (('reference', reference, x), ('output', output, updated)):
        if buffer.shape != value.shape:
            raise ValueError(f'delta_conv2d_frame: {name} must have shape {tuple(value.shape)}, '
                             f'got {tuple(buffer.shape)}')
    reference.copy_(torch.where(fired, x, reference))
    output.copy_(updated)
    return fired_value_macs(fired, weight, stride=stride, padding=padding, dilation=dilation,
                            groups=groups)


def delta_conv2d_frame(x: Tensor, reference: Tensor, output: Tensor, weight: Tensor,
                       packed_weight: Tensor, threshold: float, *, stride: Tuple[int, int],
                       padding: Tuple[int, int], dilation: Tuple[int, int], groups: int,
                       dense_above: float) -> int:
    """Update a value-gated SkipConv2d's reference and cached output for frame ``x``.

    Args:
        x: (N, C_in, H, W) the frame's input of the conv, float32/float64, any layout (a
            copy in ``reference``'s layout runs where it differs).
        reference: (N, C_in, H, W) input the cached output was computed from, contiguous or
            channels_last;
            fired values are replaced by ``x``'s.
        output: contiguous (N, C_out, H_out, W_out) cached output; the fired changes are added.
        weight, stride, padding, dilation, groups: the conv (zero padding; the bias is in
            ``output`` already).
        packed_weight: :func:`pack_delta_conv2d_weight` of ``weight``.
        threshold: a value fires when ``|x - reference| > threshold``.
        dense_above: once this share of the values fires, the conv of the change runs densely
            (same result; executed MACs are then the dense MACs).

    Returns:
        The executed MACs (for the sparse path, those of :func:`fired_value_macs`).

    Raises:
        NonFiniteError: ``x`` contains NaN or Inf (``reference`` and ``output`` are unchanged).
        ValueError: ``threshold`` is negative or ``dense_above`` is outside (0, 1].
    """
    check_non_negative('delta_conv2d_frame', 'threshold', threshold)
    check_share('delta_conv2d_frame', 'dense_above', dense_above)
    # the kernel reads x in reference's layout: a frame in another one is copied into it
    x = x.contiguous(
        memory_format=torch.channels_last if not reference.is_contiguous()
        and reference.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format)
    kernel = select_kernel('delta_conv2d_frame', x, (reference, output, weight, packed_weight),
                           supported=x.dtype in KERNEL_DTYPES)
    if kernel is None:
        return delta_conv2d_frame_reference(x, reference, output, weight, threshold, stride=stride,
                                            padding=padding, dilation=dilation, groups=groups)
    try:
        return int(
            kernel(x, reference, output, weight, packed_weight, float(threshold), stride, padding,
                   dilation, groups, float(dense_above)))
    except ValueError as error:
        reraise_non_finite(error, x, 'delta_conv2d_frame: x contains NaN or Inf')


@register_fake('delta_conv2d_frame')
def _delta_conv2d_frame_fake(x, reference, output, weight, packed_weight, threshold, stride,
                             padding, dilation, groups, dense_above):
    """Meta kernel: mutates ``reference`` and ``output``; returns the count's scalar."""
    return torch.empty((), dtype=torch.long)
