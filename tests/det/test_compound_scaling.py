"""EfficientDet D0-D3 against the paper (Tan et al., CVPR 2020, Table 2): parameters and FLOPs.

Measured here (90 COCO classes as in the paper): D0 3.850M / 2.57 GFLOPs at 512 px (2.48 in
convolutions), D1 6.584M, D2 8.038M, D3 11.939M vs the paper's 3.9M / 2.5B, 6.6M, 8.1M, 12.0M.
The paper's "FLOPs" are multiply-adds. The small deficit in parameters: the reference code
projects C4/C5 to the BiFPN width twice in the first layer (once for the top-down, once for
the bottom-up nodes; D0: +28k) and gives its BiFPN pointwise convs a bias in front of the
BatchNorm (redundant); mmeff projects once and omits those biases.
"""
import pytest
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config

from mmeff.det import EFFICIENTDET_SCALING, efficientdet_model
from tests.helpers import build_model

D0_CONFIG = 'configs/efficientdet/efficientdet_effb0_bifpn_8xb16-crop512-300e_coco.py'


def params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('arch', sorted(EFFICIENTDET_SCALING))
def test_parameters_and_backbone_channels_match_the_paper(arch):
    model = build_model(efficientdet_model(arch, num_classes=90), 'mmdet').eval()
    paper = EFFICIENTDET_SCALING[arch].paper_params_m * 1e6
    assert abs(params(model) - paper) / paper < 0.02, params(model)
    with torch.no_grad():
        feats = model.backbone(torch.randn(1, 3, 64, 64))
    assert tuple(f.shape[1] for f in feats) == EFFICIENTDET_SCALING[arch].backbone_channels
    assert [f.shape[-1] for f in feats] == [8, 4, 2]


@pytest.mark.slow
def test_d0_flops_at_512_match_the_paper():
    model = build_model(efficientdet_model('d0', num_classes=90), 'mmdet').eval()
    analyzer = FlopAnalyzer(model, (torch.randn(1, 3, 512, 512), ))
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    conv_gmacs = analyzer.by_operator()['conv'] / 1e9
    assert abs(conv_gmacs - 2.5) / 2.5 < 0.03, conv_gmacs
    assert abs(analyzer.total() / 1e9 - 2.5) / 2.5 < 0.05


def test_d0_config_is_the_table_d0():
    cfg = Config.fromfile(D0_CONFIG).model
    want = efficientdet_model('d0')
    for part in ('backbone', 'neck', 'bbox_head'):
        for key, value in want[part].items():
            got = cfg[part][key]
            assert (list(got) if isinstance(got, tuple) else got) == \
                (list(value) if isinstance(value, tuple) else value), (part, key)
    model = build_model(cfg, 'mmdet')
    assert params(model) == params(build_model(want, 'mmdet'))


def test_unknown_arch_is_named():
    with pytest.raises(KeyError, match="'d9'"):
        efficientdet_model('d9')
