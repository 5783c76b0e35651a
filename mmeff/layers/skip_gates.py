"""Gates of Skip-Convolutions (Habibian et al., CVPR 2021): what a ``SkipConv2d`` recomputes.

Every gate derives from :class:`SkipGate`, which owns the layer's frame update: what the stream
keeps at a key frame (``key_reference``), how a frame changes the cached output and the
reference in place and how many MACs that executed (``update``), and the error bound.
``SkipConv2d`` has one path for all gates; a new gate is one new class.

**Block gates** (:class:`BlockGate`) decide per b x b block of output positions whether the
block's cached output is recomputed. They look at the change of the block's input window (the
receptive field of the whole block, C_in x win_h x win_w) since the window the cached output
was computed from (the block's snapshot). With p = 1 norms and
``change = sum |x_t[window] - x_ref[window]|`` (summed over channels and the window), a block
that does not fire has an error bounded by

    |y_cached - conv(x_t)| <= max|W| * change     (every output element of the block)

because each output element sums at most the whole window's changes times one weight. So:

* ``InputNormGate(threshold=eps)`` fires when ``change > eps``: error <= eps * max|W|.
* ``OutputNormGate(threshold=eps)`` fires when ``change * max|W| > eps``: error <= eps, in
  output units (the paper's output-norm gate uses Young's inequality the same way).

The comparison is strict, so ``threshold=0`` recomputes every block whose window changed at all
and the layer is exact. The norm gates run the gate, the snapshot update and the recompute in
one compiled call per frame (:func:`mmeff.ops.skip_conv2d_frame`).

``GumbelGate`` is trained instead: a conv with the layer's kernel, stride and dilation and one
output channel, on |change|; a block fires where the largest logit over its b x b outputs is
positive. It has no error bound; the MAC loss (:func:`mmeff.engine.skipconv_gate_loss`) trades
its firing rate against the task loss. It sees the residual windows as tensors and recomputes
the fired blocks with :func:`mmeff.ops.sparse_conv2d`.

``ValueGate`` decides per input value instead of per block (see its docstring) and runs
:func:`mmeff.ops.delta_conv2d_frame`.
"""
import functools
import math
import numbers
from typing import TYPE_CHECKING, Tuple

import torch
from torch import Tensor, nn

from ..ops import (DENSE_CROSSOVER_DENSITY, FrameUndo, block_input_windows, blocks_to_positions,
                   delta_conv2d_frame, delta_conv2d_frame_logged, executed_conv_macs,
                   skip_conv2d_frame, skip_conv2d_frame_logged, sparse_conv2d)
from ..ops.errors import NonFiniteError
from ..ops.frame_undo import values_at
from ..registry import MODELS

if TYPE_CHECKING:  # the layer imports the gates
    from .skip_conv2d import SkipConv2d, SkipConvEntry

BLOCK_SIZES = (1, 2, 4, 8)


def non_finite_frame(layer: nn.Module) -> NonFiniteError:
    return NonFiniteError(f"{type(layer).__name__}: the frame contains NaN or Inf; it was "
                          "rejected and the stream's state is unchanged")


def check_threshold(gate: str, name: str, value: float) -> float:
    """``value`` as a float, if it is a real number >= 0 (not a bool, not NaN)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f'{gate}: {name} must be a number >= 0, got {value!r}')
    return float(value)


def check_block_size(gate: str, block_size: int) -> int:
    if isinstance(block_size, bool) or not isinstance(block_size, int) or \
            block_size not in BLOCK_SIZES:
        raise ValueError(
            f'{gate}: block_size must be one of {BLOCK_SIZES} (an int), got {block_size!r}')
    return block_size


class SkipGate(nn.Module):
    """Base of every gate: owns a ``SkipConv2d``'s frame update.

    Subclasses implement ``key_reference``, ``update`` and ``error_bound``; ``attach`` checks
    that the gate can serve the layer (and may build parameters for it).
    """

    def attach(self, layer: 'SkipConv2d') -> None:
        """Called once by ``layer``'s constructor."""

    @property
    def trainable(self) -> bool:
        """Whether the gate has parameters to train (``training_clip`` then runs its clip
        recurrence, see :meth:`BlockGate.forward_clip`)."""
        return any(p.requires_grad for p in self.parameters())

    def key_reference(self, layer: 'SkipConv2d', x: Tensor) -> Tensor:
        """What the stream keeps of key frame ``x`` to measure later frames' changes against."""
        raise NotImplementedError

    def update(self, layer: 'SkipConv2d', x: Tensor, entry: 'SkipConvEntry') -> int:
        """Bring ``entry.output`` (the cached output) up to frame ``x``, in place, with
        ``entry.reference``; returns the executed MACs. Raises :class:`NonFiniteError` before
        changing anything if ``x`` holds NaN or Inf."""
        raise NotImplementedError

    def error_bound(self, weight: Tensor) -> float:
        """Largest error of an output element against the dense conv of the current frame, for
        a conv with this weight (``inf``: no bound)."""
        raise NotImplementedError


class BlockGate(SkipGate):
    """A gate that decides per b x b block of output positions, from the residual windows.

    ``forward(residual, weight)`` takes the change of every block's input window,
    (N, nBh, nBw, C_in, win_h, win_w), and returns the decisions, (N, nBh, nBw) (bool, or
    straight-through floats in training). With ``reference='previous'`` the layer's residuals
    are against the previous raw frame (the paper's layer: skipped changes are lost, it drifts).
    """

    def __init__(self, block_size: int = 8):
        super().__init__()
        self.block_size = check_block_size(type(self).__name__, block_size)

    def block_windows(self, layer: 'SkipConv2d', x: Tensor) -> Tensor:
        """View of the input window of every output block: (N, nBh, nBw, C_in, win_h, win_w)."""
        return block_input_windows(x, self.block_size, layer.kernel_size, layer.stride,
                                   layer.padding, layer.dilation)

    def positions(self, blocks: Tensor, out_hw: Tuple[int, int]) -> Tensor:
        """(N, nBh, nBw) decisions -> (N, H_out, W_out) mask."""
        return blocks_to_positions(blocks, self.block_size, out_hw)

    def key_reference(self, layer: 'SkipConv2d', x: Tensor) -> Tensor:
        if layer.reference == 'previous':
            return x.detach().clone()
        return self.block_windows(layer, x).contiguous()

    def update(self, layer: 'SkipConv2d', x: Tensor, entry: 'SkipConvEntry') -> int:
        if not torch.isfinite(x.sum()):
            raise non_finite_frame(layer)
        if layer.reference == 'previous':
            return self._update_previous(layer, x, entry)
        windows = self.block_windows(layer, x)
        fire = self(windows - entry.reference, layer.weight)
        mask = self.positions(fire, entry.output.shape[-2:])
        if entry.undo is not None:
            undo = FrameUndo(entry.reference, fire, entry.reference[fire], entry.output, mask,
                             values_at(entry.output, mask))
            entry.undo.add(undo.restore, undo.nbytes())
        entry.reference[fire] = windows[fire]
        fired = int(mask.sum())
        if fired == mask.numel():
            if entry.undo is not None:
                entry.undo.add(functools.partial(setattr, entry, 'output', entry.output))
            entry.output = layer.dense(x)
        elif fired:
            sparse_conv2d(x, layer.weight, layer.bias, mask, stride=layer.stride,
                          padding=layer.padding, dilation=layer.dilation, groups=layer.groups,
                          out=entry.output)
        return layer.macs_per_position() * fired

    def _update_previous(self, layer: 'SkipConv2d', x: Tensor, entry: 'SkipConvEntry') -> int:
        """The paper's update: ``y += conv(x - x_previous)`` at fired blocks."""
        residual = x - entry.reference
        fire = self(self.block_windows(layer, residual), layer.weight)
        mask = self.positions(fire, entry.output.shape[-2:])
        if entry.undo is not None:  # the whole reference changes: its copy is the record
            for cache in (entry.reference, entry.output):
                entry.undo.add(functools.partial(cache.copy_, cache.clone()),
                               cache.numel() * cache.element_size())
        executed = executed_conv_macs(layer.weight, mask)
        if executed:  # bias stays counted once
            entry.output += sparse_conv2d(residual, layer.weight, None, mask, stride=layer.stride,
                                          padding=layer.padding, dilation=layer.dilation,
                                          groups=layer.groups)
        entry.reference.copy_(x)
        return executed

    def forward_clip(self, layer: 'SkipConv2d', x: Tensor, clip: int) -> Tuple[Tensor, Tensor]:
        """Training: the accumulated-reference recurrence unrolled over clips of ``clip`` frames.

        ``x`` is (B * clip, C, H, W), frames of a clip consecutive. Everything is computed
        densely; the gate's straight-through decisions blend the new conv output and window
        into the cached ones, so gradients reach the gate.

        Returns:
            the outputs (B * clip, C_out, H_out, W_out) and the mean firing rate over frames
            1..clip-1 (a differentiable scalar for the MAC loss).
        """
        batch = x.shape[0] // clip
        dense = layer.dense(x)
        out_hw = dense.shape[-2:]
        frames = dense.view(batch, clip, *dense.shape[1:])
        windows = self.block_windows(layer, x)
        windows = windows.reshape(batch, clip, *windows.shape[1:])
        reference, output, outputs, usage = windows[:, 0], frames[:, 0], [frames[:, 0]], []
        for t in range(1, clip):
            fire = self(windows[:, t] - reference, layer.weight).to(x.dtype)
            usage.append(fire.mean())
            at_positions = self.positions(fire, out_hw).unsqueeze(1)
            output = at_positions * frames[:, t] + (1 - at_positions) * output
            at_windows = fire[..., None, None, None]
            reference = at_windows * windows[:, t] + (1 - at_windows) * reference
            outputs.append(output)
        return torch.stack(outputs, dim=1).reshape(dense.shape), torch.stack(usage).mean()

    def error_bound(self, weight: Tensor) -> float:
        return math.inf


class NormGate(BlockGate):
    """Base of the norm gates: a limit on the L1 change of a block's window, no parameters.

    With the accumulated reference, ``update`` runs :func:`mmeff.ops.skip_conv2d_frame`: one
    compiled call per frame for the gate, the snapshot update and the recompute of the fired
    blocks (densely once ``DENSE_CROSSOVER_DENSITY`` of them fire).
    """

    def __init__(self, threshold: float = 0.0, block_size: int = 8):
        super().__init__(block_size)
        self.threshold = check_threshold(type(self).__name__, 'threshold', threshold)

    def extra_repr(self) -> str:
        return f'threshold={self.threshold}, block_size={self.block_size}'

    def limit(self, weight: Tensor) -> float:
        """The gate as a limit on the window change: a block fires when change > limit."""
        raise NotImplementedError

    def forward(self, residual: Tensor, weight: Tensor) -> Tensor:
        return residual.abs().sum(dim=(3, 4, 5)) > self.limit(weight)

    def update(self, layer: 'SkipConv2d', x: Tensor, entry: 'SkipConvEntry') -> int:
        if layer.reference == 'previous':
            return super().update(layer, x, entry)
        args = (x, entry.reference, entry.output, layer.weight, layer.bias,
                self.limit(layer.weight))
        conv = dict(block_size=self.block_size, stride=layer.stride, padding=layer.padding,
                    dilation=layer.dilation, groups=layer.groups,
                    dense_above=DENSE_CROSSOVER_DENSITY)
        try:
            if entry.undo is None:
                fired = skip_conv2d_frame(*args, **conv)
            else:
                fired, undo = skip_conv2d_frame_logged(*args, **conv)
                entry.undo.add(undo.restore, undo.nbytes())
        except NonFiniteError as error:  # found before any state changed
            raise non_finite_frame(layer) from error
        return layer.macs_per_position() * fired


@MODELS.register_module()
class InputNormGate(NormGate):
    """Fires where the input window changed by more than ``threshold`` (sum of |change|)."""

    def error_bound(self, weight: Tensor) -> float:
        return self.threshold * weight.detach().abs().max().item()

    def limit(self, weight: Tensor) -> float:
        return self.threshold


@MODELS.register_module()
class OutputNormGate(NormGate):
    """Fires where the bound on the output change, ``max|W| * change``, exceeds ``threshold``."""

    def error_bound(self, weight: Tensor) -> float:
        return self.threshold

    def limit(self, weight: Tensor) -> float:
        scale = weight.detach().abs().max().item()
        return self.threshold / scale if scale > 0 else math.inf


@MODELS.register_module()
class ValueGate(SkipGate):
    """Fires per input value (channel x pixel), not per output block: a value whose change
    since the value the cached output was computed from exceeds ``threshold`` is sent through
    the conv, the others keep accumulating (as CBInfer's, DeltaCNN's and EvNet's neurons do).
    Only fired values are multiplied (:func:`mmeff.ops.delta_conv2d_frame`), so the work
    follows the number of changed values: a change confined to a few channels of a pixel
    costs a few channels' MACs. Every value of the reference stays within ``threshold`` of
    the input, so every output element is within ``threshold * max_o ||W_o||_1`` (the L1
    norm of one output channel's filter) of the dense conv of the current frame.
    ``threshold=0`` is exact (up to float rounding: changes are added).

    Args:
        threshold: a value fires when its change exceeds this.
        dense_above: once this share of a layer's input values fires, the conv of the change
            runs densely (same result, dense MACs counted); 1 keeps every frame sparse.
    """

    def __init__(self, threshold: float = 0.0, dense_above: float = 0.25):
        super().__init__()
        self.threshold = check_threshold('ValueGate', 'threshold', threshold)
        if isinstance(dense_above, bool) or not isinstance(dense_above, numbers.Real) or \
                not 0 < dense_above <= 1:
            raise ValueError(f'ValueGate: dense_above must be in (0, 1], got {dense_above!r}')
        self.dense_above = float(dense_above)

    def extra_repr(self) -> str:
        return f'threshold={self.threshold}, dense_above={self.dense_above}'

    def attach(self, layer: 'SkipConv2d') -> None:
        if layer.reference != 'accumulated':
            raise ValueError("SkipConv2d: a ValueGate needs reference='accumulated', got "
                             f'{layer.reference!r}')

    def key_reference(self, layer: 'SkipConv2d', x: Tensor) -> Tensor:
        return x.detach().clone()  # x's memory format (NCHW or channels_last)

    def update(self, layer: 'SkipConv2d', x: Tensor, entry: 'SkipConvEntry') -> int:
        if x.stride() != entry.reference.stride():  # the stream's memory format
            x = torch.empty_like(entry.reference).copy_(x)
        args = (x, entry.reference, entry.output, layer.weight, layer.packed_weight(),
                self.threshold)
        conv = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
                    groups=layer.groups, dense_above=self.dense_above)
        try:
            if entry.undo is None:
                return delta_conv2d_frame(*args, **conv)
            macs, undo = delta_conv2d_frame_logged(*args, **conv)
            entry.undo.add(undo.restore, undo.nbytes())
            return macs
        except NonFiniteError as error:  # found before any state changed
            raise non_finite_frame(layer) from error

    def error_bound(self, weight: Tensor) -> float:
        return self.threshold * weight.detach().abs().sum(dim=(1, 2, 3)).max().item()


@MODELS.register_module()
class GumbelGate(BlockGate):
    """Trainable gate: a conv on |residual| with the layer's kernel, one output channel.

    Training: hard decisions from ``sigmoid((logit + G) / temperature) >= 0.5`` with Gumbel
    noise G, passed straight through (the backward pass sees the soft value). Inference:
    ``logit > 0``, no noise. The bias starts at ``init_bias`` > 0, so the gate starts open
    (everything recomputed) and training closes it where changes do not matter.

    Args:
        block_size: b of the b x b output blocks.
        temperature: of the Gumbel-sigmoid.
        init_bias: initial bias of the gate conv.
    """

    def __init__(self, block_size: int = 8, temperature: float = 2 / 3, init_bias: float = 0.6):
        super().__init__(block_size)
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or \
                not temperature > 0:
            raise ValueError(f'GumbelGate: temperature must be > 0, got {temperature!r}')
        self.temperature = float(temperature)
        self.init_bias = float(init_bias)
        self.conv = None

    def attach(self, layer: 'SkipConv2d') -> None:
        """Create the gate conv for ``layer``'s geometry."""
        self.conv = nn.Conv2d(layer.in_channels, 1, layer.kernel_size, stride=layer.stride,
                              dilation=layer.dilation, device=layer.weight.device,
                              dtype=layer.weight.dtype)
        nn.init.xavier_uniform_(self.conv.weight)
        nn.init.constant_(self.conv.bias, self.init_bias)

    def logits(self, residual: Tensor) -> Tensor:
        """(N, nBh, nBw): the largest gate logit over each block's b x b outputs."""
        n, bh, bw, c, wh, ww = residual.shape
        z = self.conv(residual.abs().reshape(n * bh * bw, c, wh, ww))
        return z.amax(dim=(1, 2, 3)).view(n, bh, bw)

    def forward(self, residual: Tensor, weight: Tensor) -> Tensor:
        logits = self.logits(residual)
        if not self.training:
            return logits > 0
        uniform = torch.rand_like(logits).clamp_(1e-6, 1 - 1e-6)
        gumbel = torch.log(uniform) - torch.log1p(-uniform)  # difference of two Gumbels
        soft = torch.sigmoid((logits + gumbel) / self.temperature)
        hard = (soft >= 0.5).to(soft.dtype)
        return hard + soft - soft.detach()

    def extra_repr(self) -> str:
        return (f'block_size={self.block_size}, temperature={self.temperature}, '
                f'init_bias={self.init_bias}')
