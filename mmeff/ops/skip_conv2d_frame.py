"""One frame of a norm-gated SkipConv2d in one call: gate, snapshot update and recompute.

``skip_conv2d_frame`` runs :func:`commit_changed_windows` (fires the b x b output blocks whose
input window changed by more than ``limit`` since its snapshot, and commits their windows),
then recomputes exactly the fired blocks' output positions into ``output`` with
:func:`sparse_conv2d`, or the whole output densely once every block fired (``dense_above``).
Afterwards ``output`` equals ``conv2d(snapshot of each block) + bias`` at every block, the
invariant of the drift-free SkipConv. One compiled call per layer and frame, with no mask
round trip through Python: the per-frame path of :class:`mmeff.layers.SkipConv2d`.

``skip_conv2d_frame_logged`` is the same update inside a stream transaction: the same single
call also returns its :class:`~mmeff.ops.frame_undo.FrameUndo`, the old snapshots of the fired
blocks and the old output at the recomputed positions, taken before the first write. A
separate op rather than an option of the first, so that the path outside transactions does
not change at all.
"""
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .commit_changed_windows import blocks_to_positions, fired_windows
from .errors import reraise_non_finite
from .extension import KERNEL_DTYPES, check_non_negative, check_share, register_fake, select_kernel
from .frame_undo import FrameUndo, dynamic_sizes, fake_values_at, values_at
from .sparse_conv2d import conv2d_output_size, sparse_conv2d_reference

IntPair = Tuple[int, int]


def _frame_update(x: Tensor, snapshots: Tensor, output: Tensor, weight: Tensor,
                  bias: Optional[Tensor], limit: float, *, block_size: int, stride: IntPair,
                  padding: IntPair, dilation: IntPair, groups: int,
                  dense_above: float) -> Tuple[Tensor, Tensor, Tensor, Optional[Tensor]]:
    """The reference's update, writing nothing: (fired blocks, their windows, the position
    mask, the updated output or None when nothing fired)."""
    fired, windows = fired_windows(x, snapshots, limit, block_size=block_size,
                                   kernel_size=tuple(weight.shape[-2:]), stride=stride,
                                   padding=padding, dilation=dilation, commit_all_above=dense_above)
    out_hw = conv2d_output_size(tuple(x.shape[-2:]), tuple(weight.shape[-2:]), stride, padding,
                                dilation)
    mask = blocks_to_positions(fired, block_size, out_hw)
    if not mask.any():
        return fired, windows, mask, None
    if mask.all():
        updated = F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    else:
        updated = sparse_conv2d_reference(x, weight, bias, mask, stride=stride, padding=padding,
                                          dilation=dilation, groups=groups, out=output.clone())
    if updated.shape != output.shape:
        raise ValueError(f'skip_conv2d_frame: output must have the shape of the conv '
                         f'{tuple(updated.shape)}, got {tuple(output.shape)}')
    return fired, windows, mask, updated


def skip_conv2d_frame_reference(x: Tensor, snapshots: Tensor, output: Tensor, weight: Tensor,
                                bias: Optional[Tensor], limit: float, *, block_size: int,
                                stride: IntPair, padding: IntPair, dilation: IntPair, groups: int,
                                dense_above: float) -> int:
    """Pure-PyTorch :func:`skip_conv2d_frame`: the oracle and the fallback. Writes
    ``snapshots`` and ``output`` only once everything is computed, so a refused call changes
    neither."""
    return skip_conv2d_frame_logged_reference(x, snapshots, output, weight, bias, limit,
                                              block_size=block_size, stride=stride, padding=padding,
                                              dilation=dilation, groups=groups,
                                              dense_above=dense_above, log=False)[0]


def skip_conv2d_frame_logged_reference(x: Tensor, snapshots: Tensor, output: Tensor, weight: Tensor,
                                       bias: Optional[Tensor], limit: float, *, block_size: int,
                                       stride: IntPair, padding: IntPair, dilation: IntPair,
                                       groups: int, dense_above: float,
                                       log: bool = True) -> Tuple[int, Optional[FrameUndo]]:
    """Pure-PyTorch :func:`skip_conv2d_frame_logged` (``log=False``: no record, None)."""
    fired, windows, mask, updated = _frame_update(x, snapshots, output, weight, bias, limit,
                                                  block_size=block_size, stride=stride,
                                                  padding=padding, dilation=dilation, groups=groups,
                                                  dense_above=dense_above)
    undo = FrameUndo(snapshots, fired, snapshots[fired], output, mask, values_at(
        output, mask)) if log else None
    if updated is not None:
        snapshots[fired] = windows[fired]
        output.copy_(updated)
    return int(mask.sum()), undo


def _run(op_name: str, reference: Callable, from_kernel: Callable, x: Tensor, snapshots: Tensor,
         output: Tensor, weight: Tensor, bias: Optional[Tensor], limit: float, block_size: int,
         stride: IntPair, padding: IntPair, dilation: IntPair, groups: int, dense_above: float):
    """The wrappers' common body: checks, then ``from_kernel`` of the compiled op ``op_name``'s
    result, or ``reference``'s result."""
    check_non_negative('skip_conv2d_frame', 'limit', limit)
    check_share('skip_conv2d_frame', 'dense_above', dense_above)
    kernel = select_kernel(op_name, x, (snapshots, output, weight, bias), supported=x.dtype
                           in KERNEL_DTYPES)
    if kernel is None:
        return reference(x, snapshots, output, weight, bias, limit, block_size=block_size,
                         stride=stride, padding=padding, dilation=dilation, groups=groups,
                         dense_above=dense_above)
    try:
        result = kernel(x, snapshots, output, weight, bias, float(limit), block_size, stride,
                        padding, dilation, groups, float(dense_above))
        return from_kernel(result)
    except ValueError as error:
        reraise_non_finite(error, x, 'skip_conv2d_frame: x contains NaN or Inf')


def skip_conv2d_frame(x: Tensor, snapshots: Tensor, output: Tensor, weight: Tensor,
                      bias: Optional[Tensor], limit: float, *, block_size: int, stride: IntPair,
                      padding: IntPair, dilation: IntPair, groups: int, dense_above: float) -> int:
    """Update a SkipConv2d's snapshots and cached output for frame ``x``.

    Args:
        x: (N, C_in, H, W) the frame's input of the conv, float32/float64.
        snapshots: contiguous (N, blocks_h, blocks_w, C_in, win_h, win_w) windows the cached
            output was computed from (:func:`block_input_windows`; zero in the padding);
            fired blocks' are replaced.
        output: (N, C_out, H_out, W_out) cached output, dense; fired blocks are recomputed.
        weight, bias, stride, padding, dilation, groups: the conv (zero padding).
        limit: a block fires when ``sum |window - snapshot| > limit``.
        block_size: b of the b x b output blocks.
        dense_above: once this share of blocks fires, all fire and one dense conv runs.

    Returns:
        The number of recomputed output positions (per image summed over the batch).

    Raises:
        NonFiniteError: ``x`` contains NaN or Inf (``snapshots`` and ``output`` are unchanged).
        ValueError: ``limit`` is negative or ``dense_above`` is outside (0, 1].
    """
    return _run('skip_conv2d_frame', skip_conv2d_frame_reference, int, x, snapshots, output, weight,
                bias, limit, block_size, stride, padding, dilation, groups, dense_above)


def skip_conv2d_frame_logged(x: Tensor, snapshots: Tensor, output: Tensor, weight: Tensor,
                             bias: Optional[Tensor], limit: float, *, block_size: int,
                             stride: IntPair, padding: IntPair, dilation: IntPair, groups: int,
                             dense_above: float) -> Tuple[int, FrameUndo]:
    """:func:`skip_conv2d_frame` that also returns the undo record of the call.

    Same arguments, update, errors and single compiled call (CPU; elsewhere the reference).

    Returns:
        ``(positions, undo)``: the count of :func:`skip_conv2d_frame`, and a
        :class:`~mmeff.ops.frame_undo.FrameUndo` with ``state=snapshots``, ``in_mask`` the fired
        blocks (N, blocks_h, blocks_w), ``old_in`` their snapshots before the call
        (K, C_in, win_h, win_w), ``out_mask`` the recomputed positions (N, H_out, W_out) and
        ``old_out`` their output before the call (P, C_out). ``undo.restore()`` takes the call
        back bit for bit.
    """

    def from_kernel(result: Tuple[Tensor, ...]) -> Tuple[int, FrameUndo]:
        count, fired, old_snapshots, positions, old_output = result
        return int(count), FrameUndo(snapshots, fired, old_snapshots, output, positions, old_output)

    return _run('skip_conv2d_frame_logged', skip_conv2d_frame_logged_reference, from_kernel, x,
                snapshots, output, weight, bias, limit, block_size, stride, padding, dilation,
                groups, dense_above)


@register_fake('skip_conv2d_frame')
def _skip_conv2d_frame_fake(x, snapshots, output, weight, bias, limit, block_size, stride, padding,
                            dilation, groups, dense_above):
    """Meta kernel: mutates ``snapshots`` and ``output``; returns the count's scalar."""
    return torch.empty((), dtype=torch.long)


@register_fake('skip_conv2d_frame_logged')
def _skip_conv2d_frame_logged_fake(x, snapshots, output, weight, bias, limit, block_size, stride,
                                   padding, dilation, groups, dense_above):
    """Meta kernel: the count's scalar and the undo record, whose numbers of fired blocks and
    positions depend on the data."""
    blocks, positions = dynamic_sizes(2)
    count = torch.empty((), dtype=torch.long)
    fired = snapshots.new_empty(snapshots.shape[:3], dtype=torch.bool)
    recomputed = output.new_empty((output.shape[0], *output.shape[2:]), dtype=torch.bool)
    return (count, fired, snapshots.new_empty(
        (blocks, *snapshots.shape[3:])), recomputed, fake_values_at(output, positions))
