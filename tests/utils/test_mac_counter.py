"""MacCounter: dense convs, SkipConv2d counters, gate overhead, per-layer totals over frames."""
import pytest
import torch
from torch import nn

import mmeff
from mmeff.layers import SkipConv2d, StreamState, call_site, stream
from mmeff.utils import MacCounter


def test_dense_model_counts_every_conv_once_per_forward():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1, stride=2))
    with MacCounter(model) as counter:
        model(torch.randn(2, 3, 8, 8))
        want = 2 * 8 * 8 * 4 * 3 * 9 + 2 * 4 * 4 * 2 * 4
        assert counter.dense == counter.executed == want
        counter.reset()
        assert counter.dense == counter.executed == 0 and counter.frames == 0
    model(torch.randn(2, 3, 8, 8))  # hooks removed on exit
    assert counter.dense == 0


def test_skipconv_counts_per_frame_and_per_layer():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))
    mmeff.convert_to_skipconv(model, gate=dict(type='InputNormGate', threshold=0.0, block_size=4))
    model.eval()
    x = torch.randn(1, 3, 16, 16)
    dense_per_frame = 16 * 16 * (8 * 3 * 9 + 4 * 8)
    y = x.clone()
    y[..., 0, 0] += 1  # one pixel: the first layer recomputes one 4x4 block
    frames = []
    with torch.no_grad(), MacCounter(model) as counter:
        assert not any(m._forward_hooks for m in model)  # SkipConv2d costs its forward nothing
        for frame in (x, x, y):  # key frame: everything; identical frame: nothing
            model(frame)
            frames.append(counter.update())
    assert [f.dense for f in frames] == [dense_per_frame] * 3
    assert frames[0].executed == dense_per_frame and frames[1].executed == 0
    assert counter.frames == 3
    assert counter.gmacs_per_frame()['dense'] == pytest.approx(dense_per_frame / 1e9)
    first = counter.totals['0']
    assert first.dense == 3 * 16 * 16 * 8 * 3 * 9
    assert first.executed == (16 * 16 + 4 * 4) * 8 * 3 * 9
    assert 'total over 3 frames' in counter.format()


def test_a_layer_run_at_several_call_sites_counts_every_call():
    layer = SkipConv2d(2, 2, 3, padding=1, gate=dict(type='InputNormGate', block_size=4)).eval()
    with torch.no_grad(), MacCounter(layer) as counter, stream(StreamState()):
        for site, size in (('p3', 8), ('p4', 4)):
            with call_site(site):
                layer(torch.randn(1, 2, size, size))
        frame = counter.update()
    assert frame.dense == frame.executed == (8 * 8 + 4 * 4) * 2 * 2 * 9


def test_gate_convs_count_as_executed_overhead():
    torch.manual_seed(0)
    layer = SkipConv2d(2, 3, 3, padding=1, gate=dict(type='GumbelGate', block_size=4,
                                                     init_bias=-1.0)).eval()
    x = torch.randn(1, 2, 8, 8)
    with MacCounter(layer) as counter, stream(StreamState()):
        layer(x)  # key frame: dense
        assert counter.dense == counter.executed == layer.dense_macs
        counter.reset()
        layer(x)  # nothing changed: the gate runs, no block is recomputed
        assert counter.dense == layer.dense_macs
        gate_macs = counter.executed - layer.executed_macs
        assert layer.executed_macs == 0 and gate_macs == 4 * 2 * 9 * 16  # 4 blocks of 4x4 logits
        assert counter.update().dense == layer.dense_macs
    assert counter.totals['gate.conv'].dense == 0


def test_cond_conv_layers_count_their_conv_and_mix_as_count_mixture_macs_does():
    from mmeff.layers import CondConv2d
    from mmeff.utils import count_mixture_macs
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1),
                          CondConv2d(8, 16, 3, stride=2, padding=1, num_experts=4),
                          CondConv2d(16, 16, 3, padding=1, groups=16, bias=False, num_experts=2))
    x = torch.randn(2, 3, 12, 10)
    want = count_mixture_macs(model, x)
    with MacCounter(model) as counter, torch.no_grad():
        model(x)
        frame = counter.update()
    assert frame.dense == frame.executed == want.conv + want.mix
    layer = counter.last_frame['1']
    conv_macs = 2 * 16 * 8 * 9 * 6 * 5  # batch x C_out x C_in x k x k x 6x5 outputs
    assert layer.dense == conv_macs + 2 * (4 * 16 * 8 * 9 + 4 * 16)  # mix of weights and biases
