"""BiFPN, the bidirectional feature pyramid of EfficientDet (Tan et al., CVPR 2020, Fig. 2d/3).

Levels P3-P7. P3-P5 come from the backbone (projected to ``out_channels`` by 1x1 conv + BN);
P6 = maxpool(BN(conv1x1(C5))), P7 = maxpool(P6). Each of ``num_repeats`` layers runs a top-down
path (P7 -> P3) and a bottom-up path (P3 -> P7); every node fuses its inputs with fast
normalised fusion, then Swish, depthwise-separable 3x3 conv and BatchNorm.

Resampling: nearest-neighbour upsampling to the finer level's size, 3x3/2 max pooling (padding
1, so a level of size s gives ceil(s / 2), like mmdet's EfficientNet with ``Conv2d`` padding).
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule, build_activation_layer
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from .compound_scaling import EFFICIENTDET_NORM

NUM_LEVELS = 5  # P3 ... P7


class FastNormalizedFusion(nn.Module):
    """``sum_i w_i x_i / (eps + sum_i w_i)`` with ``w = relu(weights)`` (paper, eq. 3).

    Args:
        num_inputs: how many same-shaped (N, C, H, W) tensors are fused.
        eps: keeps the division stable when all weights are 0.
    """

    def __init__(self, num_inputs: int, eps: float = 1e-4):
        super().__init__()
        self.weights = nn.Parameter(torch.ones(num_inputs))
        self.eps = eps

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        if len(inputs) != self.weights.numel():
            raise ValueError(f'FastNormalizedFusion: expected {self.weights.numel()} inputs, '
                             f'got {len(inputs)}')
        w = F.relu(self.weights)
        w = w / (w.sum() + self.eps)
        return sum(wi * x for wi, x in zip(w, inputs))


class BiFPNNode(nn.Module):
    """Fusion -> activation -> depthwise-separable 3x3 conv -> BN, at one level."""

    def __init__(self, num_inputs: int, channels: int, norm_cfg: dict, act_cfg: dict):
        super().__init__()
        self.fusion = FastNormalizedFusion(num_inputs)
        self.act = build_activation_layer(act_cfg)
        self.conv = DepthwiseSeparableConvModule(channels, channels, 3, padding=1, bias=False,
                                                 norm_cfg=norm_cfg, act_cfg=None, dw_norm_cfg=None,
                                                 dw_act_cfg=None)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        return self.conv(self.act(self.fusion(inputs)))


def upsample_to(x: Tensor, like: Tensor) -> Tensor:
    """Nearest-neighbour resize of ``x`` to ``like``'s spatial size."""
    return F.interpolate(x, size=like.shape[-2:], mode='nearest')


def downsample(x: Tensor) -> Tensor:
    """3x3 max pooling, stride 2, padding 1: (N, C, H, W) -> (N, C, ceil(H/2), ceil(W/2))."""
    return F.max_pool2d(x, 3, stride=2, padding=1)


class BiFPNLayer(nn.Module):
    """One top-down + bottom-up pass over five levels of ``channels`` channels."""

    def __init__(self, channels: int, norm_cfg: dict, act_cfg: dict):
        super().__init__()
        # top_down[i] makes the intermediate P(6-i) (i = 0..3, P6..P3; P3's is its output).
        self.top_down = nn.ModuleList(
            BiFPNNode(2, channels, norm_cfg, act_cfg) for _ in range(NUM_LEVELS - 1))
        # bottom_up[i] makes the output P(4+i) (i = 0..3); P7's node has two inputs.
        self.bottom_up = nn.ModuleList(
            BiFPNNode(3 if i < NUM_LEVELS - 2 else 2, channels, norm_cfg, act_cfg)
            for i in range(NUM_LEVELS - 1))

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """feats: [P3, ..., P7], each (N, C, H_l, W_l); returns the fused levels, same shapes."""
        # Top-down: td[l] for l = 4 (P7, its input) down to 0 (P3).
        td = [None] * NUM_LEVELS
        td[-1] = feats[-1]
        for i, level in enumerate(range(NUM_LEVELS - 2, -1, -1)):
            td[level] = self.top_down[i]([feats[level], upsample_to(td[level + 1], feats[level])])
        # Bottom-up: out[0] = td[0]; inner levels fuse input, intermediate and the finer output.
        outs = [td[0]]
        for i, level in enumerate(range(1, NUM_LEVELS)):
            down = downsample(outs[-1])
            inputs = [feats[level], td[level], down
                      ] if level < NUM_LEVELS - 1 else [feats[level], down]
            outs.append(self.bottom_up[i](inputs))
        return outs


@MODELS.register_module()
class EfficientDetBiFPN(BaseModule):
    """BiFPN neck of EfficientDet.

    Args:
        in_channels: channels of the backbone's C3, C4, C5 (strides 8, 16, 32).
        out_channels: W_bifpn, the channels of every level.
        num_repeats: D_bifpn, stacked BiFPN layers.
        norm_cfg: normalisation after every conv (the recipe: BN, momentum 0.01, eps 1e-3).
        act_cfg: activation before every node's conv (Swish).
        init_cfg: None: mmcv ConvModule's own (Kaiming) initialisation.

    Input: a tuple of 3 maps (N, in_channels[i], H/2^(3+i), W/2^(3+i)); output: a tuple of 5
    maps (N, out_channels, ceil(H/2^l), ceil(W/2^l)), l = 3..7.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, num_repeats: int,
                 norm_cfg: dict = EFFICIENTDET_NORM, act_cfg: dict = dict(type='Swish'),
                 init_cfg=None):
        super().__init__(init_cfg)
        if len(in_channels) != 3:
            raise ValueError(f'EfficientDetBiFPN: expects the 3 backbone levels C3-C5, got '
                             f'in_channels={list(in_channels)}')
        if num_repeats < 1:
            raise ValueError(f'EfficientDetBiFPN: num_repeats must be >= 1, got {num_repeats}')
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.laterals = nn.ModuleList(
            ConvModule(c, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None) for c in in_channels)
        self.p6_lateral = ConvModule(in_channels[-1], out_channels, 1, norm_cfg=norm_cfg,
                                     act_cfg=None)
        self.layers = nn.ModuleList(
            BiFPNLayer(out_channels, norm_cfg, act_cfg) for _ in range(num_repeats))

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'EfficientDetBiFPN: expected {len(self.in_channels)} input levels, '
                             f'got {len(inputs)}')
        feats = [lateral(x) for lateral, x in zip(self.laterals, inputs)]
        p6 = downsample(self.p6_lateral(inputs[-1]))
        feats += [p6, downsample(p6)]
        for layer in self.layers:
            feats = layer(feats)
        return tuple(feats)
