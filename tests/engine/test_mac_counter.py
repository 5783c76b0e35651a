"""MacCounter sums the per-frame MAC counters of SkipConv2d layers."""
import pytest
import torch

import mmeff
from mmeff.engine import MacCounter


def test_counts_dense_and_executed_macs_per_frame():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(8, 4, 1))
    mmeff.convert_to_skipconv(model, gate=dict(type='InputNormGate', threshold=0.0, block_size=4))
    model.eval()
    counter = MacCounter.of(model)
    x = torch.randn(1, 3, 16, 16)
    dense_per_frame = 16 * 16 * (8 * 3 * 9 + 4 * 8)
    with torch.no_grad():
        model(x)  # key frame: everything
        counter.update()
        model(x)  # identical frame: nothing
        counter.update()
        y = x.clone()
        y[..., 0, 0] += 1  # one pixel: first layer recomputes one 4x4 block
        model(y)
        counter.update()
    totals = counter.gmacs_per_frame()
    assert counter.frames == 3
    assert totals['dense'] == pytest.approx(dense_per_frame / 1e9)
    first = counter.totals['0']
    assert first.dense == 3 * 16 * 16 * 8 * 3 * 9
    assert first.executed == (16 * 16 + 4 * 4) * 8 * 3 * 9
    assert 'total over 3 frames' in counter.format()


def test_model_without_skipconv_is_rejected():
    with pytest.raises(ValueError, match='no SkipConv2d'):
        MacCounter.of(torch.nn.Conv2d(3, 3, 3))
