"""``Interpolant``: the common interface of the feature interpolants of sampling blocks."""
from typing import Optional

import torch
from torch import Tensor, nn

from ..ops import sparse_interp2d, sparse_interp2d_reference


def window_squared_distances(kernel_size: int) -> Tensor:
    """(k, k) float64: d^2 = dy^2 + dx^2 of each tap from the window's centre."""
    offsets = torch.arange(kernel_size, dtype=torch.float64) - kernel_size // 2
    return offsets.view(-1, 1)**2 + offsets.view(1, -1)**2


class Interpolant(nn.Module):
    """Fills the unsampled positions of a feature map from the sampled ones.

    A subclass defines :meth:`log_weight`, the (k, k) or (C, k, k) log weights of the window
    taps (see :func:`mmeff.ops.sparse_interp2d`). ``forward(x, mask, fill)`` returns x at the
    sampled positions and the normalised weighted mean of the window's samples elsewhere
    (``fill``, or 0, where the window holds none):

    - with a soft (float) mask or inputs that need gradients it runs the dense reference,
      ``m * x + (1 - m) * interp`` (training);
    - with a bool mask in inference it runs the compiled op, from the list of sampled
      positions.

    Args:
        channels: C of the feature maps (used by interpolants with per-channel weights).
        kernel_size: k, odd.
    """

    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f'{type(self).__name__}: kernel_size must be odd and >= 1, got {kernel_size}')
        self.channels = channels
        self.kernel_size = kernel_size

    def log_weight(self) -> Tensor:
        """(k, k) or (C, k, k) log weights of the window taps."""
        raise NotImplementedError

    def forward(self, x: Tensor, mask: Tensor, fill: Optional[Tensor] = None,
                out: Optional[Tensor] = None) -> Tensor:
        """x (N, C, H, W), mask (N, H, W) bool or float in [0, 1], fill (C,) or None; ``out``
        an optional (N, C, H, W) buffer, as :func:`~mmeff.ops.sparse_interp2d`'s."""
        return sparse_interp2d(x, mask, self.log_weight().to(x.dtype), fill, out=out)

    def forward_reference(self, x: Tensor, mask: Tensor, fill: Optional[Tensor] = None) -> Tensor:
        """The dense reference of :meth:`forward`, whatever the mask and grad mode."""
        return sparse_interp2d_reference(x, mask, self.log_weight().to(x.dtype), fill)

    def extra_repr(self) -> str:
        return f'channels={self.channels}, kernel_size={self.kernel_size}'
