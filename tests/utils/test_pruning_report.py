"""The per-layer report of a pruned model: parameters, FLOPs and shares against hand counts,
recognizers (backbone and head), checkpoints with masks, and tools/rt3d_report.py."""

import pytest
import torch
from mmengine.config import Config
from torch import nn

from mmeff.layers.kernel_group_sparsity import attach_mask, prune_model
from mmeff.utils.pruning_report import (format_report, hook_input_shape, load_pruned_checkpoint,
                                        pruning_report)

INPUT = (1, 3, 4, 8, 8)


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
