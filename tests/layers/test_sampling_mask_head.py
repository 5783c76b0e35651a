"""SamplingMaskHead: Gumbel-sigmoid masks in training, deterministic masks in evaluation, the
grid prior."""
import pytest
import torch

from mmeff.layers import SamplingMaskHead, grid_prior, sample_heads


def head_with_logit(logit: float, grid_interval: int = 11) -> SamplingMaskHead:
    """A head whose logit is ``logit`` everywhere (zero weight)."""
    head = SamplingMaskHead(4, grid_interval=grid_interval)
    torch.nn.init.constant_(head.conv.bias, logit)
    return head


def test_starts_nearly_dense():
    head = SamplingMaskHead(4)
    probability, mask = head.eval()(torch.randn(2, 4, 9, 9))
    assert torch.allclose(probability, torch.sigmoid(torch.tensor(3.0)))
    assert mask.dtype == torch.bool and mask.all()


def test_evaluation_is_deterministic_and_keeps_p_at_least_half():
    head = SamplingMaskHead(4, grid_interval=0)
    torch.nn.init.normal_(head.conv.weight)
    head.eval()
    x = torch.randn(2, 4, 15, 13)
    probability, mask = head(x)
    assert torch.equal(mask, probability >= 0.5)
    assert torch.equal(head(x)[1], mask)
    assert 0 < mask.float().mean() < 1


def test_training_mask_is_a_gumbel_sigmoid_relaxation():
    torch.manual_seed(0)
    head = head_with_logit(0.8, grid_interval=0).train()
    x = torch.zeros(64, 4, 16, 16)
    _, soft = head(x)
    assert soft.dtype == torch.float32 and torch.all((soft > 0) & (soft < 1))
    # The relaxation at temperature T: P(soft > 0.5) = P(logit + logistic noise > 0) = p.
    assert (soft > 0.5).float().mean().item() == pytest.approx(
        torch.sigmoid(torch.tensor(0.8)).item(), abs=0.01)
    head.temperature.fill_(0.03)
    _, sharp = head(x)
    assert ((sharp < 1e-3) | (sharp > 1 - 1e-3)).float().mean() > 0.9


def test_grid_prior_guarantees_the_minimum_density():
    for training in (True, False):
        head = head_with_logit(-30.0, grid_interval=11).train(training)
        _, mask = head(torch.randn(2, 4, 45, 34))
        expected = grid_prior(45, 34, 11, torch.device('cpu'))
        assert torch.equal(mask[0] > 0.5, expected) and torch.equal(mask[1] > 0.5, expected)
        assert mask.float().mean() >= 1 / 121
    assert grid_prior(23, 12, 11, torch.device('cpu')).sum() == 3 * 2


@pytest.mark.parametrize('stride, size', [(1, (9, 8)), (2, (9, 8)), (2, (10, 7)), (1, (1, 1))])
def test_logit_equals_the_conv(stride, size):
    head = SamplingMaskHead(5, stride=stride).double()
    torch.nn.init.normal_(head.conv.weight)
    torch.nn.init.normal_(head.conv.bias)
    x = torch.randn(2, 5, *size, dtype=torch.float64)
    torch.testing.assert_close(head.logit(x), head.conv(x)[:, 0])


def test_sample_heads_equals_each_head_on_its_own():
    heads = [SamplingMaskHead(6, 1), SamplingMaskHead(6, 2, grid_interval=3)]
    for head in heads:
        torch.nn.init.normal_(head.conv.weight)
        head.eval()
    x = torch.randn(2, 6, 9, 8)
    for (p, mask), head in zip(sample_heads(heads, x), heads):
        want_p, want_mask = head(x)
        torch.testing.assert_close(p, want_p)
        assert torch.equal(mask, want_mask) and 0 < mask.float().mean() < 1


def test_stride_and_temperature_in_the_state_dict():
    head = SamplingMaskHead(4, stride=2)
    assert head(torch.randn(1, 4, 9, 8))[1].shape == (1, 5, 4)
    assert 'temperature' in head.state_dict()
    with pytest.raises(ValueError, match='grid_interval must be >= 0'):
        SamplingMaskHead(4, grid_interval=-1)
