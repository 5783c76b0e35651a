"""The undo record of a logged frame op: what one call of ``skip_conv2d_frame_logged`` or
``delta_conv2d_frame_logged`` overwrote, so that a stream transaction can take the call back.

A logged op takes the record after the gate's decisions and the NaN/Inf check and before its
first write, so the record holds exactly the state that the call changes: the fired snapshot
blocks (or the reference's pixels with a fired value) and the output positions it recomputes.
Its cost follows the frame's change, not the size of the state.
"""
from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

IntPair = Tuple[int, int]


def positions_last(t: Tensor) -> Tensor:
    """(N, H, W, C) view of an (N, C, H, W) tensor: an (N, H, W) bool mask selects positions."""
    return t.permute(0, 2, 3, 1)


def values_at(t: Tensor, mask: Tensor) -> Tensor:
    """The values of ``t`` (N, C, H, W) at the positions of ``mask`` (N, H, W): (P, C), a copy."""
    return positions_last(t)[mask]


def reached_positions(pixels: Tensor, kernel_size: IntPair, stride: IntPair, padding: IntPair,
                      dilation: IntPair) -> Tensor:
    """(N, H_out, W_out) bool: the output positions of a conv whose window holds one of the
    ``pixels`` (N, H, W) bool."""
    ones = pixels.new_ones((1, 1, *kernel_size), dtype=torch.float32)
    window = F.conv2d(pixels[:, None].to(torch.float32), ones, None, stride, padding, dilation)
    return window[:, 0] > 0


def fake_values_at(t: Tensor, positions) -> Tensor:
    """The fake of the compiled ops' ``values_at``: (positions, C) values of ``t`` (N, C, H, W),
    a (C, positions) buffer seen transposed where ``t``'s channels are not adjacent (NCHW)."""
    channels = t.shape[1]
    if t.stride(1) == 1 or channels == 1:
        return t.new_empty((positions, channels))
    return t.new_empty((channels, positions)).t()


def dynamic_sizes(count: int) -> Tuple:
    """``count`` sizes that depend on the data, for a fake kernel's outputs: symbolic sizes
    under FakeTensorMode. Meta tensors outside it get PyTorch's RuntimeError that names the op
    and says that its outputs have data-dependent shapes."""
    ctx = torch.library.get_ctx()
    return tuple(ctx.new_dynamic_size() for _ in range(count))


@dataclass(frozen=True)
class FrameUndo:
    """The old values of what one logged frame op call overwrote.

    ``state[in_mask] = old_in`` and ``positions_last(output)[out_mask] = old_out`` (what
    :meth:`restore` does) bring ``state`` and ``output`` back to their values before the call,
    bit for bit, provided every later change to them was taken back first.

    Attributes:
        state: the input-side state, or the view of it whose leading dimensions ``in_mask``
            indexes: the snapshots (N, blocks_h, blocks_w, C_in, win_h, win_w), or the
            reference's ``positions_last`` view (N, H, W, C_in).
        in_mask: bool, the leading dimensions of ``state``: the rows the call overwrote.
        old_in: ``state[in_mask]`` before the call.
        output: the cached output (N, C_out, H_out, W_out).
        out_mask: bool (N, H_out, W_out): the output positions the call overwrote.
        old_out: (P, C_out) their values before the call.
    """
    state: Tensor
    in_mask: Tensor
    old_in: Tensor
    output: Tensor
    out_mask: Tensor
    old_out: Tensor

    def restore(self) -> None:
        """Write the old values back."""
        self.state[self.in_mask] = self.old_in
        positions_last(self.output)[self.out_mask] = self.old_out

    def nbytes(self) -> int:
        """Bytes of the saved values and masks."""
        return sum(t.numel() * t.element_size()
                   for t in (self.in_mask, self.old_in, self.out_mask, self.old_out))
