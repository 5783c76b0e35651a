"""calibrate_norm_gates: per-layer thresholds relative to each layer's window L1 norm."""
import pytest
import torch
from torch import nn

from mmeff.converters import calibrate_norm_gates, measure_window_norms
from mmeff.layers import SkipConv2d


def two_layer_model():
    torch.manual_seed(0)
    return nn.Sequential(
        SkipConv2d(2, 3, 3, padding=1, gate=dict(type='InputNormGate', block_size=4)),
        nn.ReLU(),
        SkipConv2d(3, 2, 3, stride=2, padding=1, gate=dict(type='OutputNormGate', block_size=2)),
        SkipConv2d(2, 2, 1, gate=dict(type='GumbelGate', block_size=2)),
    )


def test_thresholds_follow_each_layers_window_norm():
    model = two_layer_model().train()
    frames = [torch.randn(1, 2, 8, 8) * s for s in (1.0, 3.0)]
    thresholds = calibrate_norm_gates(model, frames, relative=0.1)
    assert set(thresholds) == {'0', '2'}  # the Gumbel-gated layer is left alone
    first, second = model[0], model[2]
    norm0 = sum(first.block_windows(f).abs().sum((3, 4, 5)).mean() for f in frames) / 2
    hidden = [torch.relu(first.dense(f)) for f in frames]
    norm2 = sum(second.block_windows(h).abs().sum((3, 4, 5)).mean() for h in hidden) / 2
    assert first.gate.threshold == pytest.approx(0.1 * norm0.item(), rel=1e-5)
    assert second.gate.threshold == pytest.approx(
        0.1 * norm2.item() * second.weight.abs().max().item(), rel=1e-5)
    assert model.training and first.training  # mode restored
    assert len(first.own_stream()) == 0  # ran in a private stream


def test_relative_zero_keeps_layers_exact_and_bad_input_is_rejected():
    model = two_layer_model()
    assert set(calibrate_norm_gates(model, [torch.randn(1, 2, 8, 8)], 0.0).values()) == {0.0}
    with pytest.raises(ValueError, match='relative'):
        calibrate_norm_gates(model, [torch.randn(1, 2, 8, 8)], -1.0)
    with pytest.raises(ValueError, match='norm gate'):
        measure_window_norms(nn.Conv2d(1, 1, 1), [torch.randn(1, 1, 4, 4)])


def test_value_gate_threshold_follows_the_mean_input_magnitude():
    torch.manual_seed(0)
    model = nn.Sequential(SkipConv2d(2, 3, 3, padding=1, gate=dict(type='ValueGate')), nn.ReLU(),
                          SkipConv2d(3, 2, 1, gate=dict(type='ValueGate')))
    frames = [torch.randn(1, 2, 8, 8) * s for s in (1.0, 3.0)]
    calibrate_norm_gates(model, frames, relative=0.2)
    hidden = [torch.relu(model[0].dense(f)) for f in frames]
    assert model[0].gate.threshold == pytest.approx(
        0.2 * sum(f.abs().mean().item() for f in frames) / 2, rel=1e-5)
    assert model[2].gate.threshold == pytest.approx(
        0.2 * sum(h.abs().mean().item() for h in hidden) / 2, rel=1e-5)


def test_overrides_give_named_layers_their_own_relative_setting():
    frames = [torch.randn(1, 2, 8, 8)]
    plain = calibrate_norm_gates(two_layer_model(), frames, relative=0.1)
    model = two_layer_model()
    thresholds = calibrate_norm_gates(model, frames, relative=0.1, overrides={'0': 0.4})
    assert thresholds['0'] == pytest.approx(4 * plain['0']) and thresholds['2'] == plain['2']
    assert model[0].gate.threshold == thresholds['0']
    with pytest.raises(ValueError, match="without a norm gate: \\['3'\\]"):
        calibrate_norm_gates(model, frames, 0.1, overrides={'3': 0.2})  # the Gumbel-gated one
    with pytest.raises(ValueError, match='relative must be >= 0'):
        calibrate_norm_gates(model, frames, 0.1, overrides={'0': -0.2})
