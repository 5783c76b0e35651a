"""``FramewiseAvgPool``: 2D average pooling applied to every frame of a clip."""
import torch.nn.functional as F
from torch import Tensor, nn


class FramewiseAvgPool(nn.Module):
    """3x3 stride-2 average pooling of every frame, padding excluded from the mean (TF 'same'
    average pooling); works on frames down to 1x1, unlike ``avg_pool3d``."""

    def forward(self, x: Tensor) -> Tensor:
        n, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)
        pooled = F.avg_pool2d(frames, 3, 2, 1, count_include_pad=False)
        return pooled.reshape(n, t, c, *pooled.shape[-2:]).transpose(1, 2)
