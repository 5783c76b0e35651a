"""The per-layer report of a pruned model: parameters, FLOPs and shares against hand counts,
recognizers (backbone and head), checkpoints with masks, and tools/rt3d_report.py."""
import importlib.util
import math

import pytest
import torch
from mmengine.config import Config
from torch import nn

from mmeff.layers.kernel_group_sparsity import attach_mask, prune_model
from mmeff.utils.pruning_report import (format_report, hook_input_shape, load_pruned_checkpoint,
                                        pruning_report)
from tests.helpers import REPO, build_model

INPUT = (1, 3, 4, 8, 8)
TINY_CONFIG = REPO / 'configs/rt3d/r2plus1d-tiny-kgs-2x_1xb8-8x1x1-8e_synthetic-actions-rgb.py'


def two_convs() -> nn.Sequential:
    """(1, 3, 4, 8, 8) -> (1, 16, 4, 8, 8): two 3x3x3 convs with padding 1, with bias."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(3, 8, 3, padding=1), nn.Conv3d(8, 16, 3, padding=1))


def test_report_counts_parameters_flops_and_shares_by_hand():
    model = two_convs()
    first = torch.ones(8, 3, 3, 3, 3, dtype=torch.bool)
    first[:2] = False  # 2 of 8 filters removed
    attach_mask(model[0], first)
    report = pruning_report(model, INPUT)
    outputs = 4 * 8 * 8  # per output channel
    conv1, conv2 = report.layers
    assert [conv1.name, conv2.name] == ['0', '1']
    assert conv1.params == 8 * 3 * 27 + 8 and conv1.pruned_weights == 2 * 3 * 27
    assert conv1.kept_params == 6 * 3 * 27 + 8 and conv1.pruned_share == pytest.approx(0.25)
    assert conv1.flops == outputs * 8 * 3 * 27 and conv1.kept_flops == outputs * 6 * 3 * 27
    assert conv2.pruned_weights == 0 and conv2.kept_flops == conv2.flops == outputs * 16 * 8 * 27
    assert report.params == conv1.params + conv2.params
    assert report.kept_params == report.params - 2 * 3 * 27
    assert report.flops == conv1.flops + conv2.flops  # only convs cost FLOPs here
    assert report.flop_reduction == pytest.approx(report.flops / (report.flops - outputs * 162))
    text = format_report(report)
    assert '25.0%' in text and f'{report.flop_reduction:.2f}x fewer FLOPs' in text


@pytest.mark.parametrize('scheme', ['filter', 'vanilla', 'kgs'])
def test_every_scheme_keeps_the_flops_its_mask_keeps(scheme):
    model = two_convs()
    masks = prune_model(model, scheme, {'1': 0.5}, (4, 4))
    layer = pruning_report(model, INPUT).layers[1]
    kept = masks['1'].float().mean().item()
    assert layer.pruned_share == pytest.approx(1 - kept)
    assert layer.kept_flops == pytest.approx(layer.flops * kept)
    assert layer.pruned_share == pytest.approx(0.5)  # whole groups: units of equal size


class TinyRecognizer(nn.Module):
    """``backbone`` and ``cls_head`` as in mmaction2's recognizers."""

    def __init__(self):
        super().__init__()
        self.backbone = two_convs()
        self.cls_head = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(16, 4))


def test_a_recognizer_is_reported_with_its_head_under_its_own_names(tmp_path):
    model = TinyRecognizer()
    prune_model(model, 'kgs', {'backbone.1': 0.5}, (4, 4))
    report = pruning_report(model, INPUT)
    assert [layer.name for layer in report.layers] == ['backbone.0', 'backbone.1']
    assert report.params == sum(p.numel() for p in model.parameters())
    assert report.flops >= sum(layer.flops for layer in report.layers) + 16 * 4  # head included

    torch.save({'state_dict': model.state_dict()}, tmp_path / 'pruned.pth')
    fresh = TinyRecognizer()
    assert load_pruned_checkpoint(fresh, str(tmp_path / 'pruned.pth')) == ['backbone.1']
    assert pruning_report(fresh, INPUT) == report


def test_errors_name_what_is_missing():
    with pytest.raises(ValueError, match='no nn.Conv3d'):
        pruning_report(nn.Sequential(nn.Conv2d(3, 4, 3)), (1, 3, 8, 8))
    with pytest.raises(ValueError, match='input_shape'):
        hook_input_shape(Config(dict(custom_hooks=[dict(type='EMAHook')])))


def test_rt3d_report_tool_on_a_pruned_tiny_r2plus1d(tmp_path, capsys):
    pytest.importorskip('mmaction', reason='mmaction2 is not installed')
    cfg = Config.fromfile(str(TINY_CONFIG))
    model = build_model(cfg.model, 'mmaction')
    masks = prune_model(model, 'kgs', 0.5, (4, 4), pad=True)
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'kgs.pth')
    spec = importlib.util.spec_from_file_location('rt3d_report', REPO / 'tools/rt3d_report.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    tool.main([str(TINY_CONFIG), str(tmp_path / 'kgs.pth'), '--json', str(tmp_path / 'r.json')])
    lines = capsys.readouterr().out.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith('---')) + 1:]
    rows = {line.split()[0]: line.split() for line in table}
    assert set(rows) == {*masks, 'model'}  # every Conv3d of the model is masked, one row each
    for name, mask in masks.items():
        assert rows[name][-1] == f'{(~mask).float().mean().item():.1%}'
    report = __import__('json').loads((tmp_path / 'r.json').read_text())
    pruned = sum(int((~m).sum()) for m in masks.values())
    assert report['kept_params'] == report['params'] - pruned
    # one ratio over all convs: their FLOPs halve; BN, pooling and the head stay dense
    conv_flops = sum(layer['flops'] for layer in report['layers'])
    kept_conv = sum(layer['kept_flops'] for layer in report['layers'])
    assert kept_conv / conv_flops == pytest.approx(0.5, abs=0.01)
    assert 1.9 < report['flop_reduction'] < 2.0
    assert math.prod(hook_input_shape(cfg)) == 8 * 32 * 32 * 3
