"""One frame of a value-gated SkipConv2d: per-value change detection and an input-sparse conv.

``delta_conv2d_frame`` fires every input value that moved more than ``threshold`` from the
reference the cached output was computed from (``|x - reference| > threshold``, value by
value), adds the fired changes to the cached output through the conv and commits them to the
reference. Only fired values are multiplied, each by C_out/groups weights per output position
it reaches, so the work follows the number of changed values, not of changed positions. The
invariant of the drift-free SkipConv holds up to float rounding:

    output == conv2d(reference) + bias,        |reference - x| <= threshold  (every value)

``delta_conv2d_frame_logged`` is the same update inside a stream transaction: the same single
call also returns its :class:`~mmeff.ops.frame_undo.FrameUndo`, the old reference at the pixels
with a fired value and the old output at the positions they reach, taken before the first
write (a separate op, so that the path outside transactions does not change at all).
"""
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import NonFiniteError, reraise_non_finite
from .extension import KERNEL_DTYPES, check_non_negative, check_share, register_fake, select_kernel
from .frame_undo import (FrameUndo, dynamic_sizes, fake_values_at, positions_last,
                         reached_positions, values_at)

IntPair = Tuple[int, int]


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
                                 threshold: float, *, stride: IntPair, padding: IntPair,
                                 dilation: IntPair, groups: int) -> int:
    """Pure-PyTorch :func:`delta_conv2d_frame`: the oracle and the fallback. Writes
    ``reference`` and ``output`` only once everything is computed, so a refused call changes
    neither."""
    return delta_conv2d_frame_logged_reference(x, reference, output, weight, threshold,
                                               stride=stride, padding=padding, dilation=dilation,
                                               groups=groups, log=False)[0]


def delta_conv2d_frame_logged_reference(x: Tensor, reference: Tensor, output: Tensor,
                                        weight: Tensor, threshold: float, *, stride: IntPair,
                                        padding: IntPair, dilation: IntPair, groups: int,
                                        log: bool = True) -> Tuple[int, Optional[FrameUndo]]:
    """Pure-PyTorch :func:`delta_conv2d_frame_logged` (``log=False``: no record, None)."""
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
    undo = None
    if log:
        pixels = fired.any(dim=1)
        reached = reached_positions(pixels, tuple(weight.shape[-2:]), stride, padding, dilation)
        undo = FrameUndo(positions_last(reference), pixels, values_at(reference, pixels), output,
                         reached, values_at(output, reached))
    reference.copy_(torch.where(fired, x, reference))
    output.copy_(updated)
    return fired_value_macs(fired, weight, stride=stride, padding=padding, dilation=dilation,
                            groups=groups), undo


def _run(op_name: str, reference_fn: Callable, from_kernel: Callable, x: Tensor, reference: Tensor,
         output: Tensor, weight: Tensor, packed_weight: Tensor, threshold: float, stride: IntPair,
         padding: IntPair, dilation: IntPair, groups: int, dense_above: float):
    """The wrappers' common body: checks, then ``from_kernel`` of the compiled op ``op_name``'s
    result, or ``reference_fn``'s result."""
    check_non_negative('delta_conv2d_frame', 'threshold', threshold)
    check_share('delta_conv2d_frame', 'dense_above', dense_above)
    # the kernel reads x in reference's layout: a frame in another one is copied into it
    x = x.contiguous(
        memory_format=torch.channels_last if not reference.is_contiguous()
        and reference.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format)
    kernel = select_kernel(op_name, x, (reference, output, weight, packed_weight), supported=x.dtype
                           in KERNEL_DTYPES)
    if kernel is None:
        return reference_fn(x, reference, output, weight, threshold, stride=stride, padding=padding,
                            dilation=dilation, groups=groups)
    try:
        result = kernel(x, reference, output, weight, packed_weight, float(threshold), stride,
                        padding, dilation, groups, float(dense_above))
        return from_kernel(result)
    except ValueError as error:
        reraise_non_finite(error, x, 'delta_conv2d_frame: x contains NaN or Inf')


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
    return _run('delta_conv2d_frame', delta_conv2d_frame_reference, int, x, reference, output,
                weight, packed_weight, threshold, stride, padding, dilation, groups, dense_above)


def delta_conv2d_frame_logged(x: Tensor, reference: Tensor, output: Tensor, weight: Tensor,
                              packed_weight: Tensor, threshold: float, *, stride: IntPair,
                              padding: IntPair, dilation: IntPair, groups: int,
                              dense_above: float) -> Tuple[int, FrameUndo]:
    """:func:`delta_conv2d_frame` that also returns the undo record of the call.

    Same arguments, update, errors and single compiled call (CPU; elsewhere the reference).

    Returns:
        ``(macs, undo)``: the executed MACs of :func:`delta_conv2d_frame`, and a
        :class:`~mmeff.ops.frame_undo.FrameUndo` with ``state`` the (N, H, W, C_in) view of
        ``reference``, ``in_mask`` the pixels with a fired value (N, H, W), ``old_in`` their
        reference before the call (P_in, C_in), ``out_mask`` the output positions whose window
        holds such a pixel (N, H_out, W_out) and ``old_out`` their output before the call
        (P, C_out). ``undo.restore()`` takes the call back bit for bit.
    """

    def from_kernel(result: Tuple[Tensor, ...]) -> Tuple[int, FrameUndo]:
        macs, pixels, old_reference, positions, old_output = result
        return int(macs), FrameUndo(positions_last(reference), pixels, old_reference, output,
                                    positions, old_output)

    return _run('delta_conv2d_frame_logged', delta_conv2d_frame_logged_reference, from_kernel, x,
                reference, output, weight, packed_weight, threshold, stride, padding, dilation,
                groups, dense_above)


@register_fake('delta_conv2d_frame')
def _delta_conv2d_frame_fake(x, reference, output, weight, packed_weight, threshold, stride,
                             padding, dilation, groups, dense_above):
    """Meta kernel: mutates ``reference`` and ``output``; returns the count's scalar."""
    return torch.empty((), dtype=torch.long)


@register_fake('delta_conv2d_frame_logged')
def _delta_conv2d_frame_logged_fake(x, reference, output, weight, packed_weight, threshold, stride,
                                    padding, dilation, groups, dense_above):
    """Meta kernel: the count's scalar and the undo record, whose numbers of pixels and
    positions depend on the data."""
    pixels, positions = dynamic_sizes(2)
    n, _, h, w = x.shape
    count = torch.empty((), dtype=torch.long)
    fired = x.new_empty((n, h, w), dtype=torch.bool)
    reached = output.new_empty((n, *output.shape[2:]), dtype=torch.bool)
    return (count, fired, fake_values_at(reference,
                                         pixels), reached, fake_values_at(output, positions))
