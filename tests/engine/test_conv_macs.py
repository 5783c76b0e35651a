"""ConvMacMeter: dense convs, SkipConv2d counters and gate overhead."""
import torch
from torch import nn

from mmeff.engine import ConvMacMeter
from mmeff.layers import SkipConv2d, StreamState, stream


def test_dense_model_counts_every_conv_once_per_forward():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1, stride=2))
    with ConvMacMeter(model) as meter:
        model(torch.randn(2, 3, 8, 8))
        want = 2 * 8 * 8 * 4 * 3 * 9 + 2 * 4 * 4 * 2 * 4
        assert meter.dense == meter.executed == want
        meter.reset()
        assert meter.dense == meter.executed == 0
    model(torch.randn(2, 3, 8, 8))  # hooks removed on exit
    assert meter.dense == 0


def test_skipconv_counts_executed_and_gate_convs_as_overhead():
    torch.manual_seed(0)
    layer = SkipConv2d(2, 3, 3, padding=1, gate=dict(type='GumbelGate', block_size=4, init_bias=-1.0)).eval()
    x = torch.randn(1, 2, 8, 8)
    with ConvMacMeter(layer) as meter, stream(StreamState()):
        layer(x)  # key frame: dense
        assert meter.dense == meter.executed == layer.dense_macs
        meter.reset()
        layer(x)  # nothing changed: the gate runs, no block is recomputed
        assert meter.dense == layer.dense_macs
        gate_macs = meter.executed - layer.executed_macs
        assert layer.executed_macs == 0 and gate_macs == 4 * 2 * 9 * 16  # 4 blocks of 4x4 logits
