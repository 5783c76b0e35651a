"""skipconv_gate_loss: the MAC-weighted firing rate of a clip, its errors and its constants."""
import pytest
import torch

import mmeff
from mmeff.engine import skipconv_gate_loss
from mmeff.layers import SkipConv2d


def mixed_model():
    """A Gumbel-gated layer, then a norm-gated one (no trainable gate: always fires)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        SkipConv2d(2, 4, 3, padding=1, gate=dict(type='GumbelGate', block_size=4)),
        SkipConv2d(4, 4, 1, gate=dict(type='InputNormGate', block_size=4))).train()


def test_dense_layers_count_as_always_firing_weighted_by_their_macs():
    model = mixed_model()
    with mmeff.training_clip(2):
        model(torch.randn(4, 2, 8, 8))
    gumbel, norm = model
    assert norm.gate_usage is None and 0 < gumbel.gate_usage.item() < 1
    want = (gumbel.dense_macs * gumbel.gate_usage + norm.dense_macs) / (gumbel.dense_macs +
                                                                        norm.dense_macs)
    loss = skipconv_gate_loss(model, beta=3.0)
    torch.testing.assert_close(loss, 3.0 * want)
    loss.backward()
    assert gumbel.gate.conv.weight.grad.abs().sum() > 0


def test_outside_a_clip_the_loss_is_a_constant_tensor():
    model = mixed_model()
    model(torch.randn(4, 2, 8, 8))  # training mode, no clip: every layer dense
    loss = skipconv_gate_loss(model, beta=0.5)
    assert torch.is_tensor(loss) and not loss.requires_grad and loss.item() == pytest.approx(0.5)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match='no SkipConv2d'):
        skipconv_gate_loss(torch.nn.Conv2d(2, 2, 1))
    with pytest.raises(RuntimeError, match='training forward pass first'):
        skipconv_gate_loss(mixed_model())
