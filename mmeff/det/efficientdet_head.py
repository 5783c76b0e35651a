"""EfficientDet's class and box prediction networks (Tan et al., CVPR 2020, Sec. 3.3 / 4).

Two towers of ``stacked_convs`` depthwise-separable 3x3 convs (``feat_channels`` wide), each
followed by BatchNorm and Swish, then a separable 3x3 prediction conv. The conv weights are
shared across the five pyramid levels; the BatchNorms are per level (statistics differ by
level). The recipe's losses: sigmoid focal loss (alpha 0.25, gamma 1.5) and Huber box loss
(delta 0.1) weighted 50 against the class loss; anchors at 3 octave scales x 3 aspect ratios,
base size 4 x stride, centred in their cells.

Each level runs inside ``mmeff.layers.call_site(level)``, so when the head is converted to
SkipConv every shared conv keeps one state per level.
"""
import math
from typing import List, Sequence, Tuple

from mmcv.cnn import build_activation_layer, build_norm_layer
from mmdet.models.dense_heads import AnchorHead
from mmdet.registry import MODELS
from torch import Tensor, nn

from mmeff.layers import call_site
from .compound_scaling import EFFICIENTDET_NORM

#: The recipe's box loss: Huber(delta) = delta * SmoothL1(beta=delta); the TF recipe weighs it
#: 50 and normalises by 4 x #positives, mmdet by #positives, so loss_weight = 50 * 0.1 / 4.
EFFICIENTDET_BOX_LOSS = dict(type='SmoothL1Loss', beta=0.1, loss_weight=50 * 0.1 / 4)
EFFICIENTDET_CLS_LOSS = dict(type='FocalLoss', use_sigmoid=True, gamma=1.5, alpha=0.25,
                             loss_weight=1.0)
EFFICIENTDET_ANCHORS = dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                            ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128], center_offset=0.5)
#: Box deltas are regressed unscaled (target_stds 1), as in the recipe.
EFFICIENTDET_BOX_CODER = dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                              target_stds=[1.0] * 4)


class SeparableConv2d(nn.Module):
    """Depthwise 3x3 (no bias) then pointwise 1x1: (N, C_in, H, W) -> (N, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels,
                                   bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))


class SharedTower(nn.Module):
    """``depth`` separable convs shared by all levels, each with a per-level BatchNorm + act."""

    def __init__(self, in_channels: int, channels: int, depth: int, num_levels: int, norm_cfg: dict,
                 act_cfg: dict):
        super().__init__()
        self.convs = nn.ModuleList(
            SeparableConv2d(in_channels if i == 0 else channels, channels, bias=False)
            for i in range(depth))
        self.norms = nn.ModuleList(
            nn.ModuleList(build_norm_layer(norm_cfg, channels)[1] for _ in range(depth))
            for _ in range(num_levels))
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: Tensor, level: int) -> Tensor:
        for conv, norm in zip(self.convs, self.norms[level]):
            x = self.act(norm(conv(x)))
        return x


@MODELS.register_module()
class EfficientDetHead(AnchorHead):
    """EfficientDet head: shared separable towers, per-level BatchNorm.

    Args:
        num_classes: object classes (no background).
        in_channels: channels of every input level (W_bifpn).
        feat_channels: tower width (W_bifpn in the paper).
        stacked_convs: tower depth D_class (= D_box).
        num_levels: pyramid levels (5: P3-P7).
        norm_cfg, act_cfg: per-level norm and activation of the towers.
        prior_prob: initial foreground probability of the class outputs.
        **kwargs: AnchorHead's (losses, anchor generator, box coder, train/test cfg).

    ``forward(feats)`` takes ``num_levels`` maps (N, in_channels, H_l, W_l) and returns
    (cls_scores, bbox_preds), lists of (N, A * num_classes, H_l, W_l) and (N, A * 4, H_l, W_l),
    A = 9 anchors per position.
    """

    def __init__(self, num_classes: int, in_channels: int, feat_channels: int,
                 stacked_convs: int = 3, num_levels: int = 5, norm_cfg: dict = EFFICIENTDET_NORM,
                 act_cfg: dict = dict(type='Swish'), prior_prob: float = 0.01,
                 anchor_generator: dict = EFFICIENTDET_ANCHORS,
                 bbox_coder: dict = EFFICIENTDET_BOX_CODER, loss_cls: dict = EFFICIENTDET_CLS_LOSS,
                 loss_bbox: dict = EFFICIENTDET_BOX_LOSS, init_cfg=None, **kwargs):
        if stacked_convs < 1:
            raise ValueError(f'EfficientDetHead: stacked_convs must be >= 1, got {stacked_convs}')
        self.stacked_convs = stacked_convs
        self.num_levels = num_levels
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.prior_prob = prior_prob
        super().__init__(num_classes, in_channels, feat_channels=feat_channels,
                         anchor_generator=anchor_generator, bbox_coder=bbox_coder,
                         loss_cls=loss_cls, loss_bbox=loss_bbox, init_cfg=init_cfg, **kwargs)
        if self.prior_generator.num_levels != num_levels:
            raise ValueError(f'EfficientDetHead: the anchor generator has '
                             f'{self.prior_generator.num_levels} levels, num_levels={num_levels}')

    def _init_layers(self) -> None:
        tower = dict(in_channels=self.in_channels, channels=self.feat_channels,
                     depth=self.stacked_convs, num_levels=self.num_levels, norm_cfg=self.norm_cfg,
                     act_cfg=self.act_cfg)
        self.cls_tower = SharedTower(**tower)
        self.reg_tower = SharedTower(**tower)
        self.cls_out = SeparableConv2d(self.feat_channels,
                                       self.num_base_priors * self.cls_out_channels, bias=True)
        self.reg_out = SeparableConv2d(self.feat_channels,
                                       self.num_base_priors * self.bbox_coder.encode_size,
                                       bias=True)

    def init_weights(self) -> None:
        """Kaiming (fan-in) separable convs, class bias at ``prior_prob``; BatchNorms keep
        their unit init. Only the head's own convs are touched (not, e.g., SkipConv gates)."""
        super().init_weights()
        for sep in self.modules():
            if isinstance(sep, SeparableConv2d):
                for conv in (sep.depthwise, sep.pointwise):
                    nn.init.kaiming_normal_(conv.weight, mode='fan_in', nonlinearity='linear')
                    if conv.bias is not None:
                        nn.init.zeros_(conv.bias)
        nn.init.normal_(self.cls_out.pointwise.weight, std=0.01)
        nn.init.normal_(self.reg_out.pointwise.weight, std=0.01)
        nn.init.constant_(self.cls_out.pointwise.bias, -math.log(
            (1 - self.prior_prob) / self.prior_prob))

    def forward_single(self, x: Tensor, level: int) -> Tuple[Tensor, Tensor]:
        """Scores (N, A * num_classes, H, W) and deltas (N, A * 4, H, W) of one level."""
        return self.cls_out(self.cls_tower(x, level)), self.reg_out(self.reg_tower(x, level))

    def forward(self, x: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        if len(x) != self.num_levels:
            raise ValueError(f'EfficientDetHead: expected {self.num_levels} levels, got {len(x)}')
        cls_scores, bbox_preds = [], []
        for level, feat in enumerate(x):
            with call_site(level):
                cls_score, bbox_pred = self.forward_single(feat, level)
            cls_scores.append(cls_score)
            bbox_preds.append(bbox_pred)
        return cls_scores, bbox_preds
