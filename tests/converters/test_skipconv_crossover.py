"""measure_dense_crossovers: each value-gated layer's dense_above from timing its geometry."""
import copy

import pytest
import torch
from torch import nn

import mmeff
from mmeff.converters import crossover_share, measure_dense_crossovers, skipconv_crossover
from mmeff.layers import SkipConv2d
from mmeff.ops import has_extension


def value_gated_model():
    torch.manual_seed(0)
    gate = dict(type='ValueGate', threshold=0.1)
    return nn.Sequential(
        SkipConv2d(4, 8, 3, padding=1, gate=gate),
        nn.ReLU(),
        SkipConv2d(8, 8, 3, padding=1, gate=gate),
        nn.ReLU(),
        SkipConv2d(8, 8, 3, padding=1, gate=gate),  # the geometry of the one before
        SkipConv2d(8, 4, 1, gate=dict(type='InputNormGate', block_size=2)),  # left alone
    )


def test_crossover_is_where_the_speedup_falls_to_one():
    assert crossover_share([0.01, 0.1, 0.3], [3.0, 1.5, 0.5]) == pytest.approx(0.2)
    assert crossover_share([0.01, 0.1], [0.8, 0.4]) == 0.01  # slower already
    assert crossover_share([0.01, 0.1], [4.0, 1.2]) == 1.0  # never slower
    assert crossover_share([0.01, 0.1], [2.0, 1.0]) == pytest.approx(0.1)
    with pytest.raises(ValueError, match='one speed-up per share'):
        crossover_share([0.1], [1.0, 2.0])


def test_each_geometry_is_timed_once_and_its_crossover_set(monkeypatch):
    timed = []

    def fake_speedups(layer, x_like, shares, repeats, generator, pattern):
        timed.append((layer.in_channels, tuple(x_like.shape)))
        return [3.0, 0.5] if layer.in_channels == 4 else [5.0, 3.0]

    monkeypatch.setattr(skipconv_crossover, 'speedups_of', fake_speedups)
    model = value_gated_model().train()
    crossovers = measure_dense_crossovers(model, torch.randn(1, 4, 12, 10), shares=(0.1, 0.5))
    assert timed == [(4, (1, 4, 12, 10)), (8, (1, 8, 12, 10))]
    assert crossovers == {'0': pytest.approx(0.1 + 2 / 2.5 * 0.4), '2': 1.0, '4': 1.0}
    assert [model[i].gate.dense_above for i in (0, 2, 4)] == list(crossovers.values())
    assert model.training and len(model[0].own_stream()) == 0  # mode restored, private stream


@pytest.mark.skipif(not has_extension(), reason='the compiled extension is not built')
def test_measured_crossovers_lie_in_the_timed_range_and_keep_the_stream():
    model = mmeff.convert_to_skipconv(
        nn.Sequential(nn.Conv2d(4, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1)),
        gate=dict(type='ValueGate', threshold=0.05)).eval()
    untouched = copy.deepcopy(model)
    frames = [torch.randn(1, 4, 24, 20) for _ in range(2)]
    state, other = mmeff.StreamState(), mmeff.StreamState()
    with mmeff.stream(state):
        model(frames[0])
    crossovers = measure_dense_crossovers(model, frames[0], shares=(0.05, 0.5), repeats=2)
    assert set(crossovers) == {'0', '2'}
    assert all(0.05 <= c <= 1.0 for c in crossovers.values()), crossovers
    with mmeff.stream(other):
        untouched(frames[0])
        want = untouched(frames[1])
    with mmeff.stream(state):  # the caller's stream goes on from its own first frame
        got = model(frames[1])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match='no SkipConv2d with a ValueGate'):
        measure_dense_crossovers(nn.Conv2d(1, 1, 1), torch.randn(1, 1, 4, 4))
    with pytest.raises(ValueError, match='shares must increase'):
        measure_dense_crossovers(value_gated_model(), torch.randn(1, 4, 8, 8), shares=(0.5, 0.1))
    with pytest.raises(ValueError, match="pattern must be 'values' or 'pixels'"):
        measure_dense_crossovers(value_gated_model(), torch.randn(1, 4, 8, 8), pattern='blocks')
    with pytest.raises(ValueError, match='did not reach'):
        measure_dense_crossovers(value_gated_model(), torch.randn(1, 4, 8, 8),
                                 forward=lambda frame: None)
