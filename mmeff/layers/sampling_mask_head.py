"""``SamplingMaskHead``: where a sampling-interpolation block computes its features."""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import MODELS

#: Soft mask values below this are set to 0 (no gradient there). A low temperature pushes the
#: relaxation into float32's denormal range, where the interpolation's normalisation
#: (divided by the window's summed mask weights) gets an infinite gradient; at or above this
#: floor the denominator's square stays a normal float.
SOFT_MASK_FLOOR = 1e-4


def grid_prior(height: int, width: int, interval: int, device: torch.device) -> Tensor:
    """(H, W) bool: true at every ``interval``-th row and column, starting at (0, 0)."""
    grid = torch.zeros(height, width, dtype=torch.bool, device=device)
    grid[::interval, ::interval] = True
    return grid


@MODELS.register_module()
class SamplingMaskHead(nn.Module):
    """A 3x3 conv with one output channel that predicts the keep-probability of every
    position, and the sampling mask drawn from it.

    - Training: a Gumbel-sigmoid relaxation at temperature ``T`` (the ``temperature`` buffer,
      saved in checkpoints; an mmengine hook anneals it): the soft mask
      ``sigmoid((logit + g1 - g2) / T)``, g1, g2 standard Gumbel noise.
    - Evaluation: deterministic, ``logit >= 0`` (``p >= 0.5``).
      Values below :data:`SOFT_MASK_FLOOR` are set to 0.
    - Both: the positions of a stride-``grid_interval`` grid are always sampled (soft mask 1),
      which guarantees a density of at least ``1 / grid_interval**2``.

    The conv is initialised to weight 0, bias 3: ``p = sigmoid(3) = 0.953`` everywhere, so a
    new network starts almost dense.

    Args:
        in_channels: channels of the block input.
        stride: the stride of the mask (the conv's stride), so the mask has the resolution of
            the layer it gates.
        grid_interval: the grid prior's stride (0 disables it).
    """

    def __init__(self, in_channels: int, stride: int = 1, grid_interval: int = 11):
        super().__init__()
        if grid_interval < 0:
            raise ValueError(f'SamplingMaskHead: grid_interval must be >= 0, got {grid_interval}')
        self.conv = nn.Conv2d(in_channels, 1, 3, stride=stride, padding=1)
        self.grid_interval = grid_interval
        self.register_buffer('temperature', torch.tensor(1.0))
        self.init_weights()

    def init_weights(self) -> None:
        """Weight 0, bias 3 (also after a parent's initialisation, which calls this)."""
        nn.init.zeros_(self.conv.weight)
        nn.init.constant_(self.conv.bias, 3.0)

    def tap_weight(self) -> Tensor:
        """(9, C, 1, 1): the 3x3 kernel as a 1x1 conv to its 9 taps, (i, j) row-major."""
        return self.conv.weight[0].permute(1, 2, 0).reshape(9, -1, 1, 1).contiguous()

    def logit_from_taps(self, taps: Tensor) -> Tensor:
        """(N, H', W'): the logit from ``taps`` (N, 9, H, W), the input's 1x1 conv with
        :meth:`tap_weight`: the bias plus the sum of the taps' maps, each shifted by its
        offset, at the head's stride."""
        stride = self.conv.stride[0]
        out_h, out_w = (taps.shape[2] - 1) // stride + 1, (taps.shape[3] - 1) // stride + 1
        taps = F.pad(taps, (1, 1, 1, 1))
        logit = self.conv.bias.view(1, 1, 1).expand(taps.shape[0], out_h, out_w)
        for i in range(3):
            for j in range(3):
                logit = logit + taps[:, 3 * i + j, i:i + stride *
                                     (out_h - 1) + 1:stride, j:j + stride * (out_w - 1) + 1:stride]
        return logit

    def logit(self, x: Tensor) -> Tensor:
        """(N, H', W'): ``self.conv(x)``, computed as a 1x1 conv to the 9 taps and a sum of
        their shifted maps (a 3x3 conv with one output channel is slow on CPU)."""
        return self.logit_from_taps(F.conv2d(x, self.tap_weight()))

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """x (N, C, H, W) -> (probability (N, H', W'), mask (N, H', W')): float in (0, 1]
        in training, bool in evaluation."""
        return self.sample(self.logit(x))

    def sample(self, logit: Tensor) -> Tuple[Tensor, Tensor]:
        """(probability, mask) of :meth:`forward` from the ``logit`` (N, H', W')."""
        probability = torch.sigmoid(logit)
        grid = grid_prior(*logit.shape[1:], self.grid_interval, logit.device) \
            if self.grid_interval else torch.zeros_like(logit, dtype=torch.bool)
        if not self.training:
            return probability, (logit >= 0) | grid
        uniform = torch.rand((2, *logit.shape), dtype=logit.dtype, device=logit.device)
        gumbel = -torch.log((-torch.log(uniform.clamp_min(1e-20))).clamp_min(1e-20))
        soft = torch.sigmoid((logit + gumbel[0] - gumbel[1]) / self.temperature)
        soft = torch.where(soft < SOFT_MASK_FLOOR, torch.zeros_like(soft), soft)
        return probability, torch.where(grid, torch.ones_like(soft), soft)

    def extra_repr(self) -> str:
        return f'grid_interval={self.grid_interval}'


def sample_heads(heads: Sequence[SamplingMaskHead], x: Tensor) -> List[Tuple[Tensor, Tensor]]:
    """``[head(x) for head in heads]`` with the heads' 1x1 tap convs run as one conv, so ``x``
    is read once (a conv with 9 output channels is memory-bound)."""
    taps = F.conv2d(x, torch.cat([head.tap_weight() for head in heads]))
    return [
        head.sample(head.logit_from_taps(taps[:, 9 * index:9 * index + 9]))
        for index, head in enumerate(heads)
    ]
