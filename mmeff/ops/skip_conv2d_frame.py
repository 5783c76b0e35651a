"""One frame of a norm-gated SkipConv2d in one call: gate, snapshot update and recompute.

``skip_conv2d_frame`` runs :func:`commit_changed_windows` (fires the b x b output blocks whose
input window changed by more than ``limit`` since its snapshot, and commits their windows),
then recomputes exactly the fired blocks' output positions into ``output`` with
:func:`sparse_conv2d`, or the whole output densely once every block fired (``dense_above``).
Afterwards ``output`` equals ``conv2d(snapshot of each block) + bias`` at every block, the
invariant of the drift-free SkipConv. One compiled call per layer and frame, with no mask
round trip through Python: the per-frame path of :class:`mmeff.layers.SkipConv2d`.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .commit_changed_windows import blocks_to_positions, fired_windows
from .errors import reraise_non_finite
from .extension import KERNEL_DTYPES, check_non_negative, check_share, register_fake, select_kernel
from .sparse_conv2d import conv2d_output_size, sparse_conv2d_reference


def skip_conv2d_frame_reference(x: Tensor, snapshots: Tensor, output: Tensor, weight: Tensor,
                                bias: Optional[Tensor], limit: float, *, block_size: int,
                                stride: Tuple[int, int], padding: Tuple[int, int],
                                dilation: Tuple[int, int], groups: int, dense_above: float) -> int:
    """Pure-PyTorch :func:`skip_conv2d_frame`: the oracle and the fallback. Writes
    ``snapshots`` and ``output`` only once everything is computed, so a refused call changes
    neither."""
    fired, windows = fired_windows(x, snapshots, limit, block_size=block_size,
                                   kernel_size=tuple(weight.shape[-2:]), stride=stride,
                                   padding=padding, dilation=dilation, commit_all_above=dense_above)
    out_hw = conv2d_output_size(tuple(x.shape[-2:]), tuple(weight.shape[-2:]), stride, padding,
                                dilation)
    mask = blocks_to_positions(fired, block_size, out_hw)
    positions = int(mask.sum())
    if positions == 0:
        return 0
    if positions == mask.numel():
        updated = F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    else:
        updated = sparse_conv2d_reference(x, weight, bias, mask, stride=stride, padding=padding,
                                          dilation=dilation, groups=groups, out=output.clone())
    if updated.shape != output.shape:
        raise ValueError(f'skip_conv2d_frame: output must have the shape of the conv '
                         f'{tuple(updated.shape)}, got {tuple(output.shape)}')
    snapshots[fired] = windows[fired]
    output.copy_(updated)
    return positions


def skip_conv2d_frame(x: Tensor, snapshots: Tensor, output: Tensor, weight: Tensor,
                      bias: Optional[Tensor], limit: float, *, block_size: int,
                      stride: Tuple[int, int], padding: Tuple[int, int], dilation: Tuple[int, int],
                      groups: int, dense_above: float) -> int:
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
    check_non_negative('skip_conv2d_frame', 'limit', limit)
    check_share('skip_conv2d_frame', 'dense_above', dense_above)
    kernel = select_kernel('skip_conv2d_frame', x, (snapshots, output, weight, bias),
                           supported=x.dtype in KERNEL_DTYPES)
    if kernel is None:
        return skip_conv2d_frame_reference(x, snapshots, output, weight, bias, limit,
                                           block_size=block_size, stride=stride, padding=padding,
                                           dilation=dilation, groups=groups,
                                           dense_above=dense_above)
    try:
        return int(
            kernel(x, snapshots, output, weight, bias, float(limit), block_size, stride, padding,
                   dilation, groups, float(dense_above)))
    except ValueError as error:
        reraise_non_finite(error, x, 'skip_conv2d_frame: x contains NaN or Inf')


@register_fake('skip_conv2d_frame')
def _skip_conv2d_frame_fake(x, snapshots, output, weight, bias, limit, block_size, stride, padding,
                            dilation, groups, dense_above):
    """Meta kernel: mutates ``snapshots`` and ``output``; returns the count's scalar."""
    return torch.empty((), dtype=torch.long)
