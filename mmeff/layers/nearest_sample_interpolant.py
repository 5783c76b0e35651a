"""``NearestSampleInterpolant``: the baseline that reuses the nearest sampled feature."""
from torch import Tensor

from ..registry import MODELS
from .interpolant import Interpolant, window_squared_distances

#: Log-weight slope per unit of d^2: exp(-SHARPNESS) is 0 in float32 and float64, so only the
#: nearest samples keep any weight.
SHARPNESS = 1e4


@MODELS.register_module()
class NearestSampleInterpolant(Interpolant):
    """An unsampled position gets its nearest sample in the k x k window (Euclidean distance;
    the mean of the nearest ones on a tie), or ``fill`` where the window holds none.

    Args:
        channels: C (unused).
        kernel_size: k, odd.
    """

    def __init__(self, channels: int, kernel_size: int = 7):
        super().__init__(channels, kernel_size)
        self.register_buffer('log_weights',
                             (-SHARPNESS * window_squared_distances(kernel_size)).float(),
                             persistent=False)

    def log_weight(self) -> Tensor:
        """(k, k): -SHARPNESS * d^2."""
        return self.log_weights
