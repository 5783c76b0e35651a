"""``RBFInterpolant``: Gaussian radial-basis interpolation with a learned bandwidth."""
import math

import torch
from torch import Tensor, nn

from ..registry import MODELS
from .interpolant import Interpolant, window_squared_distances


@MODELS.register_module()
class RBFInterpolant(Interpolant):
    """Weights ``w(d) ~ exp(-(s^2 / 2) d^2)`` with a learned inverse bandwidth ``s``.

    ``s`` is kept as ``log_bandwidth = log s`` (so it stays positive) and shared by the
    channels. The normalisation divides by the window's own largest weight (see
    :func:`mmeff.ops.sparse_interp2d`), so a narrow kernel (large ``s``) still fills a pixel
    whose nearest sample is several pixels away, instead of zero-filling it.

    Args:
        channels: C (unused; the weights are shared).
        kernel_size: k, odd (7 as in the paper's code).
        bandwidth: the initial ``s`` (3.0 as in the paper's code).
    """

    def __init__(self, channels: int, kernel_size: int = 7, bandwidth: float = 3.0):
        super().__init__(channels, kernel_size)
        if not bandwidth > 0:
            raise ValueError(f'RBFInterpolant: bandwidth must be > 0, got {bandwidth}')
        self.log_bandwidth = nn.Parameter(torch.tensor(math.log(bandwidth)))
        self.register_buffer('squared_distances',
                             window_squared_distances(kernel_size).float(), persistent=False)

    def log_weight(self) -> Tensor:
        """(k, k): -(s^2 / 2) d^2."""
        return -0.5 * torch.exp(2 * self.log_bandwidth) * self.squared_distances
