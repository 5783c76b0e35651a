"""``ZeroFillInterpolant``: the baseline that interpolates nothing."""
import torch
from torch import Tensor

from ..registry import MODELS
from .interpolant import Interpolant


@MODELS.register_module()
class ZeroFillInterpolant(Interpolant):
    """Unsampled positions get ``fill`` (0 by default): a 1 x 1 window holds only the
    position itself, which is unsampled.

    Args:
        channels: C (unused).
    """

    def __init__(self, channels: int):
        super().__init__(channels, 1)
        self.register_buffer('zero', torch.zeros(1, 1), persistent=False)

    def log_weight(self) -> Tensor:
        """(1, 1) zero."""
        return self.zero
