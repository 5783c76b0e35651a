"""``CausalSqueezeExcitation``: squeeze-excitation with one gate per frame, streamable.

MoViNet's stream SE (``se_type='2plus3d'``, arXiv 2103.11511): the squeeze of frame t sees
only frames <= t. Per frame it concatenates the cumulative mean (:class:`CumulativeAvgPool3d`)
and the frame's own spatial mean, optionally adds a sinusoidal position encoding of the absolute
frame index in the stream (scaled by a zero-initialised learnable scalar), and gates the frame::

    s_t  = concat(CGAP(x)_t, mean_HW(x_t)) [+ alpha * PE(t)]            (N, 2C)
    x'_t = x_t * gate(W_e act(W_r s_t + b_r) + b_e)

``causal=False`` is the ordinary 3D SE of the base models: one gate per clip from the mean over
T, H, W (C channels squeezed, no state).
"""
import math
from typing import Optional

import torch
from mmcv.cnn import build_activation_layer
from torch import Tensor, nn

from ..registry import MODELS
from .cumulative_avg_pool3d import CumulativeAvgPool3d
from .framewise_conv3d import FramewiseConv3d

if 'Hardsigmoid' not in MODELS.module_dict:  # torch's relu6(x + 3) / 6, without mmcv's warning
    MODELS.register_module(name='Hardsigmoid', module=nn.Hardsigmoid)


def sinusoidal_position_encoding(positions: Tensor, channels: int) -> Tensor:
    """Transformer sin/cos encoding: positions (T,) -> (channels, T); channel 2i is
    sin(p / 10000^(2i/channels)), channel 2i+1 the matching cos."""
    half = torch.arange(0, channels, 2, device=positions.device, dtype=positions.dtype)
    angles = positions[None, :] * torch.exp(half * (-math.log(10000.0) / channels))[:, None]
    encoding = torch.stack([angles.sin(), angles.cos()], dim=1).flatten(0, 1)
    return encoding[:channels]


@MODELS.register_module()
class CausalSqueezeExcitation(nn.Module):
    """Squeeze-excitation over (N, C, T, H, W) clips; causal and streamable by default.

    Args:
        channels: C, the channels gated.
        hidden_channels: width of the bottleneck.
        causal: per-frame gates from causal statistics (stream) or one gate per clip (base).
        position_encoding: add the scaled sinusoidal encoding of the frame index (causal only).
        act_cfg: activation of the bottleneck (mmcv config).
        gate_cfg: gating activation (config; default ``Hardsigmoid``, torch's).

    Shapes: (N, C, T, H, W) -> same. The causal state lives in ``self.pool`` (per stream).
    """

    def __init__(self, channels: int, hidden_channels: int, causal: bool = True,
                 position_encoding: bool = False, act_cfg: Optional[dict] = None,
                 gate_cfg: Optional[dict] = None):
        super().__init__()
        if position_encoding and not causal:
            raise ValueError('CausalSqueezeExcitation: position_encoding needs causal=True')
        self.channels = channels
        self.causal = causal
        squeezed = 2 * channels if causal else channels
        self.pool = CumulativeAvgPool3d(channels) if causal else None
        self.position_scale = nn.Parameter(torch.zeros(())) if position_encoding else None
        self.reduce = FramewiseConv3d(squeezed, hidden_channels, 1)
        self.act = build_activation_layer(act_cfg or dict(type='HSwish'))
        self.expand = FramewiseConv3d(hidden_channels, channels, 1)
        self.gate = build_activation_layer(gate_cfg or dict(type='Hardsigmoid'))

    def squeeze(self, x: Tensor) -> Tensor:
        """(N, C, T, H, W) -> (N, 2C, T, 1, 1) causal statistics, or (N, C, 1, 1, 1)."""
        if not self.causal:
            return x.mean(dim=(2, 3, 4), keepdim=True)
        start = self.pool.frames_seen()
        frame_means = x.mean(dim=(3, 4), keepdim=True)
        squeezed = torch.cat([self.pool(frame_means), frame_means], dim=1)
        if self.position_scale is None:
            return squeezed
        positions = torch.arange(start, start + x.shape[2], device=x.device, dtype=x.dtype)
        encoding = sinusoidal_position_encoding(positions, squeezed.shape[1])
        return squeezed + self.position_scale * encoding[None, :, :, None, None]

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5 or x.shape[1] != self.channels:
            raise ValueError(f'CausalSqueezeExcitation: expected (N, {self.channels}, T, H, W), '
                             f'got shape {tuple(x.shape)}')
        return x * self.gate(self.expand(self.act(self.reduce(self.squeeze(x)))))

    def extra_repr(self) -> str:
        return f'channels={self.channels}, causal={self.causal}'
