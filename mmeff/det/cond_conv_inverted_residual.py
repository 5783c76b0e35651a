"""``CondConvInvertedResidual``: EfficientNet's MBConv block with CondConv convs that share
one router, as in the paper's EfficientNet-CondConv and timm's ``CondConvResidual``."""
from typing import Optional, Tuple

import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmdet.models.layers import SELayer
from mmengine.model import constant_init
from torch import Tensor, nn

from ..layers import CondConv2dAdaptivePadding, CondConvRouter


class CondConvInvertedResidual(nn.Module):
    """Expand 1×1 → depthwise k×k → squeeze-excitation → project 1×1, each conv a
    :class:`~mmeff.layers.CondConv2dAdaptivePadding` with ``num_experts`` experts, followed by
    a norm (and the activation after the first two); the residual when the stride is 1 and the
    channels match.

    One :class:`~mmeff.layers.CondConvRouter` (sigmoid gate) on the block's input computes the
    routing (B, E) once per call and passes it to the three convs as their ``routing``
    argument: the routing is an explicit value of the forward, no state is kept between calls.

    Initialisation (:meth:`init_weights`, run at construction): each expert as mmcv's
    ``ConvModule`` initialises the static conv of the stock block (Kaiming normal, fan_out,
    ReLU gain), the norms to weight 1 and bias 0, so a CondConv block and the static block it
    replaces start from the same kernel distribution (timm's EfficientNet-CondConv, too,
    initialises experts and static convs with one rule). The CondConv layer's own default
    (``nn.Conv2d``'s uniform fan_in rule) gives the depthwise experts about 10x and the project
    experts about 1/5 of the static convs' scale, and so other effective learning rates.

    mmdet's ``InvertedResidual`` cannot take this router: its ``ConvModule`` calls
    ``conv(x)`` with no routing argument, so each conv could only route from its own input.

    Args:
        in_channels, out_channels, mid_channels: the block's input, output and expanded
            channels.
        kernel_size, stride: the depthwise conv's.
        num_experts: E >= 1, shared by the three convs and the router.
        se_cfg: mmdet ``SELayer`` arguments, or None for no squeeze-excitation.
        norm_cfg, act_cfg: mmcv norm and activation configs.
        drop_path_rate: stochastic depth of the residual branch.
        with_cp: checkpoint the block in training (saves memory, costs a recomputation).

    Shape:
        (B, in_channels, H, W) -> (B, out_channels, ceil(H/stride), ceil(W/stride)).
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int, kernel_size: int,
                 stride: int, num_experts: int, se_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', eps=1e-3), act_cfg: dict = dict(type='Swish'),
                 drop_path_rate: float = 0., with_cp: bool = False):
        super().__init__()
        self.with_res_shortcut = stride == 1 and in_channels == out_channels
        self.with_cp = with_cp
        self.router = CondConvRouter(in_channels, num_experts, gate='sigmoid')
        self.expand_conv, self.expand_norm = self._conv_norm(in_channels, mid_channels, 1, 1, 1,
                                                             num_experts, norm_cfg)
        self.depthwise_conv, self.depthwise_norm = self._conv_norm(mid_channels, mid_channels,
                                                                   kernel_size, stride,
                                                                   mid_channels, num_experts,
                                                                   norm_cfg)
        self.se = SELayer(**se_cfg) if se_cfg is not None else nn.Identity()
        self.linear_conv, self.linear_norm = self._conv_norm(mid_channels, out_channels, 1, 1, 1,
                                                             num_experts, norm_cfg)
        self.act = build_activation_layer(act_cfg)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.init_weights()

    def init_weights(self) -> None:
        """Each expert of the three convs as mmcv's ``ConvModule`` initialises a static conv
        (``kaiming_init``: normal, mode fan_out, ReLU gain), the norms to (1, 0). The router and
        the squeeze-excitation keep their own initialisation."""
        for conv, norm in ((self.expand_conv, self.expand_norm),
                           (self.depthwise_conv, self.depthwise_norm), (self.linear_conv,
                                                                        self.linear_norm)):
            for expert in conv.experts():
                nn.init.kaiming_normal_(expert, a=0, mode='fan_out', nonlinearity='relu')
            constant_init(norm, 1, bias=0)

    @staticmethod
    def _conv_norm(in_channels: int, out_channels: int, kernel_size: int, stride: int, groups: int,
                   num_experts: int, norm_cfg: dict) -> Tuple[CondConv2dAdaptivePadding, nn.Module]:
        conv = CondConv2dAdaptivePadding(in_channels, out_channels, kernel_size, stride,
                                         groups=groups, bias=False, num_experts=num_experts,
                                         routing='external')
        return conv, build_norm_layer(norm_cfg, out_channels)[1]

    def _inner_forward(self, x: Tensor) -> Tensor:
        routing = self.router(x)
        out = self.act(self.expand_norm(self.expand_conv(x, routing)))
        out = self.act(self.depthwise_norm(self.depthwise_conv(out, routing)))
        out = self.linear_norm(self.linear_conv(self.se(out), routing))
        return x + self.drop_path(out) if self.with_res_shortcut else out

    def forward(self, x: Tensor) -> Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)
