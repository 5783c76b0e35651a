"""convert_to_skipconv on stock OpenMMLab models: exact at threshold 0 over a video."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

import mmeff
from tests.helpers import build_model


def build_stock_model(tmp_path, scope, base, override):
    path = tmp_path / 'config.py'
    path.write_text(f"_base_ = '{base}'\nmodel = {override}\n")
    torch.manual_seed(0)
    model = build_model(Config.fromfile(str(path)).model, scope).eval()
    # Non-trivial BatchNorm statistics, so that folding is really tested.
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
    return model


def moving_video(n_frames, shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    frame = torch.randn(*shape, generator=g)
    for t in range(n_frames):
        frame = frame.clone()
        y, x = (4 * t) % (shape[-2] - 12), (6 * t) % (shape[-1] - 12)
        frame[..., y:y + 12, x:x + 12] = torch.randn(*frame[..., y:y + 12, x:x + 12].shape,
                                                     generator=g)
        if t % 7 == 3:
            frame = frame + 1e-3 * torch.randn(*shape, generator=g)
        yield frame


def assert_converted(model):
    assert not any(type(m) is torch.nn.Conv2d for m in model.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    return [m for m in model.modules() if isinstance(m, mmeff.SkipConv2d)]


# the default norm gate on NCHW, and the value gate (always sparse) on channels_last, its layout
GATES = [(None, torch.contiguous_format),
         (dict(type='ValueGate', threshold=0.0, dense_above=1.0), torch.channels_last)]


@pytest.mark.parametrize('gate, memory_format', GATES)
@pytest.mark.slow
def test_hrnet_w32_exact_at_threshold_zero(tmp_path, gate, memory_format):
    model = build_stock_model(
        tmp_path, 'mmpose',
        'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
        'dict(backbone=dict(init_cfg=None))')
    converted = mmeff.convert_to_skipconv(copy.deepcopy(model), gate=gate)
    converted.to(memory_format=memory_format)
    layers = assert_converted(converted)
    assert len(layers) > 250
    executed = []
    with torch.no_grad():
        for x in moving_video(31, (1, 3, 64, 64)):
            x = x.contiguous(memory_format=memory_format)
            want = model(x, None, mode='tensor')
            got = converted(x, None, mode='tensor')
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
            executed.append(
                sum(m.executed_macs for m in layers) / sum(m.dense_macs for m in layers))
    assert executed[0] == 1.0 and min(executed[1:]) < 1.0


@pytest.mark.parametrize('gate, memory_format', GATES)
@pytest.mark.slow
def test_retinanet_exact_at_threshold_zero(tmp_path, gate, memory_format):
    model = build_stock_model(tmp_path, 'mmdet', 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
                              'dict(backbone=dict(init_cfg=None))')
    converted = mmeff.convert_to_skipconv(copy.deepcopy(model), gate=gate)
    converted.to(memory_format=memory_format)
    assert_converted(converted)
    with torch.no_grad():
        for x in moving_video(30, (1, 3, 96, 128)):
            x = x.contiguous(memory_format=memory_format)
            want_cls, want_box = model(x, mode='tensor')
            got_cls, got_box = converted(x, mode='tensor')
            for got, want in zip(got_cls + got_box, want_cls + want_box):
                torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_training_batchnorm_is_not_folded_and_skip_keeps_convs_dense():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                                torch.nn.Conv2d(4, 4, 1))
    mmeff.convert_to_skipconv(model, skip=['2'])  # model is in training mode: BN kept
    assert isinstance(model[0], mmeff.SkipConv2d) and isinstance(model[1], torch.nn.BatchNorm2d)
    assert type(model[2]) is torch.nn.Conv2d


def test_gate_config_reaches_every_layer():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4))
    mmeff.convert_to_skipconv(model, gate=dict(type='OutputNormGate', threshold=0.2, block_size=4))
    gates = [m.gate for m in model.modules() if isinstance(m, mmeff.SkipConv2d)]
    assert len(gates) == 2 and gates[0] is not gates[1]
    assert all(
        type(g).__name__ == 'OutputNormGate' and g.threshold == 0.2 and g.block_size == 4
        for g in gates)
    x = torch.randn(1, 3, 16, 16)
    model.eval()
    want = F.conv2d(torch.relu(model[0].dense(x)), model[2].weight, model[2].bias, 2, 1, 1, 4)
    torch.testing.assert_close(model(x), want)


def test_gumbel_gates_keep_their_initialisation_when_converting():
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    model = mmeff.convert_to_skipconv(torch.nn.Sequential(conv), gate=dict(type='GumbelGate'))
    layer = model[0]
    assert torch.equal(layer.weight, conv.weight) and torch.equal(layer.bias, conv.bias)
    assert layer.gate.conv.bias.item() == pytest.approx(0.6)
