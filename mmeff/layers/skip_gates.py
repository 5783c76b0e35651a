"""Norm gates of Skip-Convolutions (Habibian et al., CVPR 2021), block-structured.

A gate decides, per b x b block of output positions, whether the block's cached output is
recomputed. It looks at the change of the block's input window (the receptive field of the
whole block, C_in x win_h x win_w) since the window the cached output was computed from.

With p = 1 norms and ``change = sum |x_t[window] - x_ref[window]|`` (summed over channels and
the window), a block that does not fire has an error bounded by

    |y_cached - conv(x_t)| <= max|W| * change     (every output element of the block)

because each output element sums at most the whole window's changes times one weight. So:

* ``InputNormGate(threshold=eps)`` fires when ``change > eps``: error <= eps * max|W|.
* ``OutputNormGate(threshold=eps)`` fires when ``change * max|W| > eps``: error <= eps, in
  output units (the paper's output-norm gate uses Young's inequality the same way).

The comparison is strict, so ``threshold=0`` recomputes every block whose window changed at all
and the layer is exact.

``ValueGate`` decides per input value instead of per block (see its docstring).

``GumbelGate`` is trained instead: a conv with the layer's kernel, stride and dilation and one
output channel, on |change|; a block fires where the largest logit over its b x b outputs is
positive. It has no error bound; the MAC loss (:func:`mmeff.engine.skipconv_gate_loss`)
trades its firing rate against the task loss.

Every gate takes the residual windows ``x_t[window] - x_ref[window]`` of all blocks,
(N, nBh, nBw, C_in, win_h, win_w), and the conv weight, and returns one decision per block.
"""
import math

import torch
from torch import Tensor, nn

from ..registry import MODELS

BLOCK_SIZES = (1, 2, 4, 8)


class NormGate(nn.Module):
    """Base of the norm gates: threshold and block size, no parameters.

    A norm gate is a limit on the L1 change of a block's window, so ``SkipConv2d`` evaluates
    it with the fused :func:`mmeff.ops.commit_changed_windows` at inference."""

    def __init__(self, threshold: float = 0.0, block_size: int = 8):
        super().__init__()
        if threshold < 0:
            raise ValueError(f'{type(self).__name__}: threshold must be >= 0, got {threshold}')
        if block_size not in BLOCK_SIZES:
            raise ValueError(f'{type(self).__name__}: block_size must be one of {BLOCK_SIZES}, '
                             f'got {block_size}')
        self.threshold = float(threshold)
        self.block_size = block_size

    def extra_repr(self) -> str:
        return f'threshold={self.threshold}, block_size={self.block_size}'

    def error_bound(self, weight: Tensor) -> float:
        """Largest error of a skipped output element, for a conv with this weight."""
        raise NotImplementedError

    def limit(self, weight: Tensor) -> float:
        """The gate as a limit on the window change: a block fires when change > limit."""
        raise NotImplementedError

    def forward(self, residual: Tensor, weight: Tensor) -> Tensor:
        """Block decisions.

        Args:
            residual: (N, nBh, nBw, C_in, win_h, win_w) change of each block's input window.
            weight: the conv weight (C_out, C_in/groups, kh, kw).

        Returns:
            bool (N, nBh, nBw): the blocks to recompute.
        """
        return residual.abs().sum(dim=(3, 4, 5)) > self.limit(weight)


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
class ValueGate(nn.Module):
    """Fires per input value (channel x pixel), not per output block: a value whose change
    since the value the cached output was computed from exceeds ``threshold`` is sent through
    the conv, the others keep accumulating (as CBInfer's, DeltaCNN's and EvNet's neurons do).
    Only fired values are multiplied (:func:`mmeff.ops.delta_conv2d_frame`), so the work
    follows the number of changed values: a change confined to a few channels of a pixel
    costs a few channels' MACs. Every value of the reference stays within ``threshold`` of
    the input, so every output element is within ``threshold * max_o ||W_o||_1`` (the L1
    norm of one output channel's filter) of the dense conv of the current frame.
    ``threshold=0`` is exact.

    Args:
        threshold: a value fires when its change exceeds this.
        dense_above: once this share of a layer's input values fires, the conv of the change
            runs densely (same result, dense MACs counted); 1 keeps every frame sparse.
    """

    def __init__(self, threshold: float = 0.0, dense_above: float = 0.25):
        super().__init__()
        if threshold < 0:
            raise ValueError(f'ValueGate: threshold must be >= 0, got {threshold}')
        if not 0 < dense_above <= 1:
            raise ValueError(f'ValueGate: dense_above must be in (0, 1], got {dense_above}')
        self.threshold = float(threshold)
        self.dense_above = float(dense_above)

    def extra_repr(self) -> str:
        return f'threshold={self.threshold}, dense_above={self.dense_above}'

    def error_bound(self, weight: Tensor) -> float:
        """Largest error of an output element, for a conv with this weight."""
        return self.threshold * weight.detach().abs().sum(dim=(1, 2, 3)).max().item()


@MODELS.register_module()
class GumbelGate(nn.Module):
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
        super().__init__()
        if block_size not in BLOCK_SIZES:
            raise ValueError(f'GumbelGate: block_size must be one of {BLOCK_SIZES}, got {block_size}')
        if temperature <= 0:
            raise ValueError(f'GumbelGate: temperature must be > 0, got {temperature}')
        self.block_size = block_size
        self.temperature = float(temperature)
        self.init_bias = float(init_bias)
        self.conv = None

    def attach(self, layer: nn.Conv2d) -> None:
        """Create the gate conv for ``layer``'s geometry (SkipConv2d calls this once)."""
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
