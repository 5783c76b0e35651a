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
"""
from torch import Tensor, nn

from ..registry import MODELS

BLOCK_SIZES = (1, 2, 4, 8)


class _NormGate(nn.Module):
    """Base of the norm gates: threshold and block size, no parameters."""

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

    def forward(self, change: Tensor, weight: Tensor) -> Tensor:
        """Block decisions.

        Args:
            change: (N, nBh, nBw) p = 1 norm of each block's input-window change.
            weight: the conv weight (C_out, C_in/groups, kh, kw).

        Returns:
            bool (N, nBh, nBw): the blocks to recompute.
        """
        raise NotImplementedError


@MODELS.register_module()
class InputNormGate(_NormGate):
    """Fires where the input window changed by more than ``threshold`` (sum of |change|)."""

    def error_bound(self, weight: Tensor) -> float:
        return self.threshold * weight.detach().abs().max().item()

    def forward(self, change: Tensor, weight: Tensor) -> Tensor:
        return change > self.threshold


@MODELS.register_module()
class OutputNormGate(_NormGate):
    """Fires where the bound on the output change, ``max|W| * change``, exceeds ``threshold``."""

    def error_bound(self, weight: Tensor) -> float:
        return self.threshold

    def forward(self, change: Tensor, weight: Tensor) -> Tensor:
        return change * weight.detach().abs().max() > self.threshold
