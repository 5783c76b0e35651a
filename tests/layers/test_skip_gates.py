"""GumbelGate: clip training with straight-through gates and the MAC loss."""
import copy

import pytest
import torch

import mmeff
from mmeff.engine import skipconv_gate_loss
from mmeff.layers import GumbelGate, SkipConv2d


def gumbel_model(block_size=4):
    torch.manual_seed(0)
    gate = dict(type='GumbelGate', block_size=block_size)
    return torch.nn.Sequential(SkipConv2d(3, 8, 3, padding=1, gate=gate), torch.nn.ReLU(),
                               SkipConv2d(8, 4, 3, padding=1, gate=gate))


def video_clip(batch, length, size=16, seed=0):
    """(batch * length, 3, size, size): static backgrounds with one small moving square."""
    g = torch.Generator().manual_seed(seed)
    background = torch.rand(batch, 1, 3, size, size, generator=g).expand(-1, length, -1, -1, -1)
    frames = background.clone()
    for t in range(length):
        y, x = 2 + t, 3 + 2 * t
        frames[:, t, :, y:y + 3, x:x + 3] = 1.0
    return frames.reshape(batch * length, 3, size, size)


def test_gate_gradients_reach_the_gate_parameters():
    model = gumbel_model().train()
    x = video_clip(batch=2, length=4)
    with mmeff.training_clip(4):
        y = model(x)
    assert y.shape == (8, 4, 16, 16)
    gate_loss = skipconv_gate_loss(model, beta=0.5)
    assert gate_loss.requires_grad
    (y.pow(2).mean() + gate_loss).backward()
    for layer in (model[0], model[2]):
        assert layer.gate.conv.weight.grad is not None
        assert layer.gate.conv.weight.grad.abs().sum() > 0
        assert layer.gate_usage is not None and 0 <= layer.gate_usage.item() <= 1


def test_inference_is_deterministic_and_starts_open():
    model = gumbel_model().eval()
    frame = torch.rand(1, 3, 16, 16)
    outputs = []
    for _ in range(2):
        mmeff.reset_streams(model)
        outputs.append([model(frame), model(frame)])
        # initialised open: even an unchanged frame is recomputed everywhere
        assert model[0].executed_macs == model[0].dense_macs
    assert all(torch.equal(a, b) for a, b in zip(*outputs))


def test_mac_loss_training_lowers_executed_macs():
    model = gumbel_model()
    teacher = copy.deepcopy(model).eval()
    gate_params = [p for n, p in model.named_parameters() if '.gate.' in n]
    for n, p in model.named_parameters():
        p.requires_grad_('.gate.' in n)
    optimizer = torch.optim.Adam(gate_params, lr=0.05)

    def executed_share(seed):
        model.eval()
        mmeff.reset_streams(model)
        executed = dense = 0
        with torch.no_grad():
            for frame in video_clip(batch=1, length=6, seed=seed):
                model(frame[None])
                executed += sum(m.executed_macs for m in (model[0], model[2]))
                dense += sum(m.dense_macs for m in (model[0], model[2]))
        return executed / dense

    before = executed_share(seed=100)
    for step in range(40):
        model.train()
        x = video_clip(batch=2, length=4, seed=step)
        with torch.no_grad():
            target = teacher(x)
        with mmeff.training_clip(4):
            y = model(x)
        loss = torch.nn.functional.mse_loss(y, target) + skipconv_gate_loss(model, beta=1.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = executed_share(seed=100)
    assert before == 1.0
    assert after < 0.8 * before, (before, after)


def test_gate_loss_weights_layers_by_their_dense_macs():
    model = gumbel_model().train()
    with mmeff.training_clip(4):
        model(video_clip(batch=1, length=4))
    a, b = model[0], model[2]
    want = (a.dense_macs * a.gate_usage + b.dense_macs * b.gate_usage) / (a.dense_macs +
                                                                          b.dense_macs)
    torch.testing.assert_close(skipconv_gate_loss(model, beta=2.0), 2.0 * want)


def test_norm_gates_train_densely():
    model = torch.nn.Sequential(SkipConv2d(3, 4, 3, padding=1)).train()
    x = video_clip(batch=1, length=4)
    with mmeff.training_clip(4):
        y = model(x)
    torch.testing.assert_close(y, model[0].dense(x))
    assert model[0].gate_usage is None
    assert skipconv_gate_loss(model).item() == pytest.approx(1.0)


@pytest.mark.parametrize('call,msg', [
    (lambda: mmeff.training_clip(0).__enter__(), 'positive integer'),
    (lambda: GumbelGate(block_size=5), 'block_size must be one of'),
    (lambda: GumbelGate(temperature=0), 'temperature must be > 0'),
])
def test_bad_arguments(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


def test_batch_must_hold_whole_clips():
    model = gumbel_model().train()
    with mmeff.training_clip(3), pytest.raises(ValueError, match='not a multiple of the clip'):
        model(torch.rand(4, 3, 16, 16))
