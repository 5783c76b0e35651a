"""CondConv2d as the conv_cfg of stock mmdet, mmpose and mmaction2 backbones: they build,
run, and every conv they build through conv_cfg is a CondConv2d."""
import pytest
import torch
from torch import nn

from mmeff import CondConv2d

CONV_CFG = dict(type='CondConv2d', num_experts=4)
HRNET_EXTRA = dict(
    stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1, ),
                num_channels=(16, )), stage2=dict(num_modules=1, num_branches=2, block='BASIC',
                                                  num_blocks=(1, 1), num_channels=(8, 16)),
    stage3=dict(num_modules=1, num_branches=3, block='BASIC', num_blocks=(1, 1, 1),
                num_channels=(8, 16, 32)), stage4=dict(num_modules=1, num_branches=4, block='BASIC',
                                                       num_blocks=(1, 1, 1, 1),
                                                       num_channels=(8, 16, 32, 64)))


def mmdet_resnet():
    from mmdet.models.backbones import ResNet
    return ResNet(18, conv_cfg=CONV_CFG)


def mmdet_efficientnet():
    from mmdet.models.backbones import EfficientNet
    return EfficientNet(arch='b0', conv_cfg=CONV_CFG, out_indices=(6, ))


def mmpose_hrnet():
    from mmpose.models.backbones import HRNet
    return HRNet(HRNET_EXTRA, conv_cfg=CONV_CFG)


def mmpose_mobilenet_v2():
    from mmpose.models.backbones import MobileNetV2
    return MobileNetV2(widen_factor=0.25, conv_cfg=CONV_CFG)


def mmaction_resnet():
    from mmaction.models.backbones import ResNet
    return ResNet(18, pretrained=None, conv_cfg=CONV_CFG)


def mmaction_mobilenet_v2():
    from mmaction.models.backbones import MobileNetV2
    return MobileNetV2(widen_factor=0.25, conv_cfg=CONV_CFG)


# backbone, the number of its convs built through conv_cfg, the static convs it builds itself
BACKBONES = [
    (mmdet_resnet, 20, set()),
    (mmpose_hrnet, 39, set()),
    (mmpose_mobilenet_v2, 52, set()),
    (mmaction_resnet, 20, set()),
    (mmaction_mobilenet_v2, 52, set()),
    # mmdet's EfficientNet builds its squeeze-excitation convs (SELayer) without conv_cfg
    (mmdet_efficientnet, 49, {'se.conv1.conv', 'se.conv2.conv'}),
]


@pytest.mark.parametrize('build, cond_convs, static_suffixes', BACKBONES,
                         ids=[b[0].__name__ for b in BACKBONES])
def test_backbone_builds_with_condconv(build, cond_convs, static_suffixes):
    torch.manual_seed(0)
    backbone = build()
    backbone.init_weights()
    backbone.eval()
    assert sum(isinstance(m, CondConv2d) for m in backbone.modules()) == cond_convs
    static = {
        name.split('.', 2)[-1]
        for name, m in backbone.named_modules() if type(m) is nn.Conv2d
    }
    assert {s for s in static_suffixes if any(n.endswith(s) for n in static)} == static_suffixes
    assert all(any(n.endswith(s) for s in static_suffixes) for n in static)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        outputs = backbone(x)
        single = backbone(x[:1])
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs, )
    single = single if isinstance(single, (tuple, list)) else (single, )
    for out, one in zip(outputs, single):
        assert out.shape[0] == 2 and torch.isfinite(out).all()
        torch.testing.assert_close(out[:1], one, rtol=1e-4, atol=1e-4)
