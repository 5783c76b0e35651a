"""``EfficientNetCondConv``: mmdet's EfficientNet with CondConv blocks in its last three
stages, EfficientNet-CondConv (Yang et al., 2019; timm's ``tf_efficientnet_cc_b0_{4,8}e``)."""
from mmcv.cnn.bricks import DropPath
from mmdet.models.backbones import EfficientNet
from mmdet.models.layers import InvertedResidual
from mmdet.models.utils import make_divisible
from mmdet.registry import MODELS
from torch import nn

from .cond_conv_inverted_residual import CondConvInvertedResidual

#: Output channels of the base (width 1.0) stages that use CondConv: the last three,
#: ``_cc`` in the official builder's block strings, ``cc4`` in timm's arch definition.
CONDCONV_STAGE_CHANNELS = (112, 192, 320)


@MODELS.register_module()
class EfficientNetCondConv(EfficientNet):
    """mmdet's ``EfficientNet`` (``arch`` 'b0'-'b8') whose blocks in the stages of
    :data:`CONDCONV_STAGE_CHANNELS` are :class:`CondConvInvertedResidual`: the expand,
    depthwise and project convs are CondConv with ``num_experts`` experts and share one router
    per block. The stem, the first four stages and the final 1×1 conv stay static.

    Everything else is the parent's: ``out_indices`` (mmdet's layer indices, 0 the stem, 6 the
    1×1 conv to 1280 channels), ``frozen_stages``, ``norm_eval``, the norm and activation. The
    CondConv convs use TensorFlow 'same' padding (:class:`~mmeff.layers.CondConv2dAdaptivePadding`),
    like the parent's default ``Conv2dAdaptivePadding``.

    Each CondConv block takes its geometry (channels, kernel, stride, squeeze ratio, stochastic
    depth) from the stock ``InvertedResidual`` that the parent builds in its place.

    B0 with 8 experts: layers 4 (blocks 3-5) and 5 (all five blocks) are CondConv.
    """

    def __init__(self, arch: str = 'b0', num_experts: int = 8, **kwargs):
        if not arch.startswith('b'):
            raise ValueError(f"EfficientNetCondConv: arch must be one of 'b0'-'b8' (CondConv "
                             f'has no EdgeTPU variant), got {arch!r}')
        if isinstance(num_experts, bool) or not isinstance(num_experts, int) or num_experts < 1:
            raise ValueError(f'EfficientNetCondConv: num_experts must be an int >= 1, got '
                             f'{num_experts!r}')
        super().__init__(arch=arch, **kwargs)
        self.num_experts = num_experts
        width = self.arch_settings[arch][0]
        condconv_channels = {make_divisible(c * width, 8) for c in CONDCONV_STAGE_CHANNELS}
        for layer in self.layers:
            for index, block in enumerate(layer if isinstance(layer, nn.Sequential) else ()):
                if (isinstance(block, InvertedResidual)
                        and block.linear_conv.conv.out_channels in condconv_channels):
                    layer[index] = self._condconv_block(block)

    def _condconv_block(self, block: InvertedResidual) -> CondConvInvertedResidual:
        """The CondConv block with ``block``'s geometry."""
        depthwise = block.depthwise_conv.conv
        mid_channels = depthwise.out_channels
        se_cfg = None
        if block.with_se:
            se_cfg = dict(channels=mid_channels,
                          ratio=mid_channels / block.se.conv1.conv.out_channels,
                          act_cfg=(self.act_cfg, dict(type='Sigmoid')))
        drop_path = block.drop_path.drop_prob if isinstance(block.drop_path, DropPath) else 0.
        return CondConvInvertedResidual(block.expand_conv.conv.in_channels,
                                        block.linear_conv.conv.out_channels, mid_channels,
                                        depthwise.kernel_size[0], depthwise.stride[0],
                                        self.num_experts, se_cfg, self.norm_cfg, self.act_cfg,
                                        drop_path, self.with_cp)

    def train(self, mode: bool = True) -> 'EfficientNetCondConv':
        """The parent's (``norm_eval``, ``frozen_stages``), returning the module as
        ``nn.Module.train`` does: mmdet's returns None, which breaks ``model.eval()`` chains."""
        super().train(mode)
        return self

    def condconv_blocks(self) -> nn.ModuleList:
        """The CondConv blocks, in order."""
        return nn.ModuleList(m for m in self.modules() if isinstance(m, CondConvInvertedResidual))
