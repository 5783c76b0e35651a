"""The OpenMMLab stack installs and imports, and mmeff types are reachable from its configs."""
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from tests.helpers import build_model

CUSTOM_IMPORTS = "custom_imports = dict(imports=['mmeff'], allow_failed_imports=False)\n"


def load_config(tmp_path, body: str) -> Config:
    path = tmp_path / 'config.py'
    path.write_text(CUSTOM_IMPORTS + textwrap.dedent(body))
    return Config.fromfile(str(path))


def build(cfg: Config, scope: str):
    return build_model(cfg.model, scope).eval()


def test_import_mmeff_does_not_import_the_toolboxes():
    code = ('import sys, mmeff; heavy = [m for m in ("mmdet", "mmpose", "mmaction") '
            'if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mmpose_hrnet_w32_topdown_with_mmeff_conv(tmp_path):
    cfg = load_config(
        tmp_path, """
        _base_ = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'  # noqa: E501
        model = dict(backbone=dict(init_cfg=None, conv_cfg=dict(type='OutputSparseConv2d')))
        """)
    assert 'mmeff' in sys.modules
    model = build(cfg, 'mmpose')
    from mmeff.layers import OutputSparseConv2d
    convs = [m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(isinstance(m, OutputSparseConv2d) for m in convs)
    with torch.no_grad():
        heatmaps = model(torch.randn(1, 3, 256, 192), None, mode='tensor')
    assert heatmaps.shape == (1, 17, 64, 48)
    assert torch.isfinite(heatmaps).all()


def test_mmdet_retinanet(tmp_path):
    cfg = load_config(
        tmp_path, """
        _base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
        model = dict(backbone=dict(init_cfg=None))
        """)
    model = build(cfg, 'mmdet')
    with torch.no_grad():
        cls_scores, bbox_preds = model(torch.randn(1, 3, 128, 160), mode='tensor')
    assert len(cls_scores) == 5
    assert cls_scores[0].shape == (1, 9 * 80, 16, 20)
    assert bbox_preds[0].shape == (1, 9 * 4, 16, 20)


def test_mmaction_c3d(tmp_path):
    cfg = load_config(
        tmp_path, """
        _base_ = 'mmaction::recognition/c3d/c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb.py'
        model = dict(backbone=dict(pretrained=None))
        """)
    model = build(cfg, 'mmaction')
    with torch.no_grad():
        features = model(torch.randn(1, 1, 3, 16, 112, 112), mode='tensor')
        scores = model.cls_head(features)
    assert scores.shape == (1, 101)


@pytest.mark.parametrize('scope', ['mmdet', 'mmpose', 'mmaction'])
def test_mmeff_layer_builds_from_each_toolbox_scope(scope):
    from mmcv.cnn import build_conv_layer

    import mmeff  # noqa: F401
    init_default_scope(scope)
    conv = build_conv_layer(dict(type='OutputSparseConv2d'), 4, 8, 3, padding=1)
    assert type(conv).__name__ == 'OutputSparseConv2d'
