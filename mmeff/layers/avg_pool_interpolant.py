"""``AvgPoolInterpolant``: the mean of the samples in the window."""
import torch
from torch import Tensor

from ..registry import MODELS
from .interpolant import Interpolant


@MODELS.register_module()
class AvgPoolInterpolant(Interpolant):
    """Equal weights: an unsampled position gets the mean of the samples in its k x k window
    (average pooling of the sampled positions only).

    Args:
        channels: C (unused).
        kernel_size: k, odd.
    """

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__(channels, kernel_size)
        self.register_buffer('zeros', torch.zeros(kernel_size, kernel_size), persistent=False)

    def log_weight(self) -> Tensor:
        """(k, k) zeros."""
        return self.zeros
