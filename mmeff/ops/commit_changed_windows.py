"""Gate and state update of SkipConv's norm gates in one pass over the input.

A conv's output is tiled into b x b blocks; block (i, j) is computed from an input window of
``win_h x win_w`` pixels (the receptive field of the whole block). SkipConv keeps, per block,
the window its cached output was computed from (its snapshot). ``commit_changed_windows``
measures the L1 change of every block's current window against its snapshot, fires the
blocks whose change exceeds ``limit`` (all blocks once the fired share reaches
``commit_all_above``), replaces the snapshots of the fired blocks by their current windows
(in place) and returns the mask of the output positions to recompute.
"""
from typing import Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.utils import _pair

from .errors import NonFiniteError, reraise_non_finite
from .extension import (KERNEL_DTYPES, check_non_negative, check_share, conv_geometry, int_pair,
                        register_fake, select_kernel)
from .sparse_conv2d import conv2d_output_size

IntPair = Union[int, Tuple[int, int]]


def block_window_shape(in_hw: Tuple[int,
                                    int], block_size: int, kernel_size: IntPair, stride: IntPair,
                       padding: IntPair, dilation: IntPair) -> Tuple[int, int, int, int]:
    """(blocks_h, blocks_w, win_h, win_w) of a conv's b x b output blocks and their windows."""
    kernel_size, stride, padding, dilation = map(_pair, (kernel_size, stride, padding, dilation))
    out_h, out_w = conv2d_output_size(in_hw, kernel_size, stride, padding, dilation)
    b = block_size
    return (-(-out_h // b), -(-out_w // b),
            (b - 1) * stride[0] + (kernel_size[0] - 1) * dilation[0] + 1,
            (b - 1) * stride[1] + (kernel_size[1] - 1) * dilation[1] + 1)


def block_input_windows(x: Tensor, block_size: int, kernel_size: IntPair, stride: IntPair,
                        padding: IntPair, dilation: IntPair) -> Tensor:
    """The input window of every b x b output block, as a view of the zero-padded input.

    Args:
        x: (N, C, H, W) conv input.

    Returns:
        (N, blocks_h, blocks_w, C, win_h, win_w); zeros where a window leaves the padded input.
    """
    stride, padding = _pair(stride), _pair(padding)
    nbh, nbw, win_h, win_w = block_window_shape(tuple(x.shape[-2:]), block_size, kernel_size,
                                                stride, padding, dilation)
    b, (sh, sw), (ph, pw) = block_size, stride, padding
    need_h, need_w = (nbh - 1) * b * sh + win_h, (nbw - 1) * b * sw + win_w
    h, w = x.shape[-2:]
    padded = F.pad(x, (pw, max(need_w - w - pw, 0), ph, max(need_h - h - ph, 0)))
    windows = padded.unfold(2, win_h, b * sh).unfold(3, win_w, b * sw)[:, :, :nbh, :nbw]
    return windows.permute(0, 2, 3, 1, 4, 5)


def blocks_to_positions(blocks: Tensor, block_size: int, out_hw: Tuple[int, int]) -> Tensor:
    """Bool (N, blocks_h, blocks_w) block decisions -> bool (N, H_out, W_out) position mask."""
    full = blocks.repeat_interleave(block_size, 1).repeat_interleave(block_size, 2)
    return full[:, :out_hw[0], :out_hw[1]].contiguous()


def fired_windows(x: Tensor, snapshots: Tensor, limit: float, *, block_size: int,
                  kernel_size: IntPair, stride: IntPair = 1, padding: IntPair = 0,
                  dilation: IntPair = 1, commit_all_above: float = 1.0) -> Tuple[Tensor, Tensor]:
    """``(fired, windows)`` of :func:`commit_changed_windows_reference`, writing nothing: the
    bool (N, blocks_h, blocks_w) blocks that fire and the frame's block input windows."""
    if not torch.isfinite(x).all():
        raise NonFiniteError('commit_changed_windows: x contains NaN or Inf')
    windows = block_input_windows(x, block_size, kernel_size, stride, padding, dilation)
    if snapshots.shape != windows.shape:
        raise ValueError(f'commit_changed_windows: snapshots must have the shape of the block '
                         f'windows {tuple(windows.shape)}, got {tuple(snapshots.shape)}')
    fired = (windows - snapshots).abs().sum(dim=(3, 4, 5)) > limit
    count = int(fired.sum())
    if count and count >= commit_all_above * fired.numel():
        fired.fill_(True)
    return fired, windows


def commit_changed_windows_reference(x: Tensor, snapshots: Tensor, limit: float, *, block_size: int,
                                     kernel_size: IntPair, stride: IntPair = 1,
                                     padding: IntPair = 0, dilation: IntPair = 1,
                                     commit_all_above: float = 1.0) -> Tensor:
    """Pure-PyTorch :func:`commit_changed_windows`: the oracle and the fallback."""
    fired, windows = fired_windows(x, snapshots, limit, block_size=block_size,
                                   kernel_size=kernel_size, stride=stride, padding=padding,
                                   dilation=dilation, commit_all_above=commit_all_above)
    snapshots[fired] = windows[fired]
    out_hw = conv2d_output_size(tuple(x.shape[-2:]), _pair(kernel_size), _pair(stride),
                                _pair(padding), _pair(dilation))
    return blocks_to_positions(fired, block_size, out_hw)


def commit_changed_windows(x: Tensor, snapshots: Tensor, limit: float, *, block_size: int,
                           kernel_size: IntPair, stride: IntPair = 1, padding: IntPair = 0,
                           dilation: IntPair = 1, commit_all_above: float = 1.0) -> Tensor:
    """Fire the output blocks whose input window changed by more than ``limit``; commit them.

    Args:
        x: (N, C, H, W) current input of the conv, float32/float64, any strides.
        snapshots: contiguous (N, blocks_h, blocks_w, C, win_h, win_w) windows the cached
            outputs were computed from (see :func:`block_input_windows`); the fired blocks'
            entries are overwritten with their current windows. Entries in the conv's zero
            padding must be zero, as ``block_input_windows`` and every commit leave them (the
            CPU kernel does not read them).
        limit: a block fires when ``sum |window - snapshot| > limit`` (strict, so 0 fires
            every changed block and nothing else).
        block_size, kernel_size, stride, padding, dilation: the conv's geometry and b.
        commit_all_above: when at least this share of blocks fires (and at least one), all
            blocks fire (for a dense recompute).

    Returns:
        bool (N, H_out, W_out): the output positions of the fired blocks.

    Raises:
        NonFiniteError: ``x`` contains NaN or Inf (``snapshots`` are left as they were).
        ValueError: ``limit`` is negative or ``commit_all_above`` is outside (0, 1].
    """
    check_non_negative('commit_changed_windows', 'limit', limit)
    stride, padding, dilation = conv_geometry('commit_changed_windows', stride, padding, dilation)
    kernel_size = int_pair('commit_changed_windows', 'kernel_size', kernel_size, 1)
    check_share('commit_changed_windows', 'commit_all_above', commit_all_above)
    kernel = select_kernel('commit_changed_windows', x, (x, snapshots), supported=x.dtype
                           in KERNEL_DTYPES)
    if kernel is None:
        return commit_changed_windows_reference(x, snapshots, limit, block_size=block_size,
                                                kernel_size=kernel_size, stride=stride,
                                                padding=padding, dilation=dilation,
                                                commit_all_above=commit_all_above)
    try:
        return kernel(x, snapshots, float(limit), block_size, _pair(kernel_size), _pair(stride),
                      _pair(padding), _pair(dilation), float(commit_all_above))
    except ValueError as error:
        reraise_non_finite(error, x, 'commit_changed_windows: x contains NaN or Inf')


@register_fake('commit_changed_windows')
def _commit_changed_windows_fake(x, snapshots, limit, block_size, kernel_size, stride, padding,
                                 dilation, commit_all_above):
    """Meta kernel: mutates ``snapshots``; returns the position mask."""
    out_hw = conv2d_output_size(tuple(x.shape[-2:]), kernel_size, stride, padding, dilation)
    return x.new_empty((x.shape[0], *out_hw), dtype=torch.bool)
