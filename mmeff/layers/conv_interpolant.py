"""``ConvInterpolant``: a learned interpolation window."""
from torch import Tensor, nn

from ..registry import MODELS
from .interpolant import Interpolant, window_squared_distances


@MODELS.register_module()
class ConvInterpolant(Interpolant):
    """A learned k x k window, normalised over the sampled taps.

    The (k, k) parameter holds log weights, so the weights stay positive and every window's
    weights sum to 1 over its samples. The window is shared by the channels: a normalised
    interpolation with one window commutes with a following 1x1 conv + BatchNorm (affine and
    channel-mixing), which lets a sparse block interpolate after conv3 instead of before it.
    Initialised to a Gaussian of unit bandwidth (``-d^2 / 2``).

    Args:
        channels: C (unused).
        kernel_size: k, odd.
    """

    def __init__(self, channels: int, kernel_size: int = 7):
        super().__init__(channels, kernel_size)
        start = -0.5 * window_squared_distances(kernel_size).float()
        self.logits = nn.Parameter(start)

    def log_weight(self) -> Tensor:
        """(k, k): the learned log weights."""
        return self.logits
