"""The interpolants of mmeff.layers: their windows, their two paths and their gradients."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmeff.layers import (AvgPoolInterpolant, ConvInterpolant, Interpolant,
                          NearestSampleInterpolant, RBFInterpolant, ZeroFillInterpolant)
from mmeff.ops import has_extension
from mmeff.registry import MODELS

INTERPOLANTS = (RBFInterpolant, ConvInterpolant, AvgPoolInterpolant, ZeroFillInterpolant,
                NearestSampleInterpolant)


def sample(seed=0, n=2, c=4, h=9, w=8, density=0.3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, c, h, w, generator=g, dtype=dtype), torch.rand(n, h, w, generator=g)
            < density)


@pytest.mark.parametrize('cls', INTERPOLANTS)
def test_registered_and_built_from_config(cls):
    built = MODELS.build(dict(type=cls.__name__, channels=4))
    assert isinstance(built, cls) and isinstance(built, Interpolant)


@pytest.mark.skipif(not has_extension(), reason='mmeff.ops._ext is not built')
@pytest.mark.parametrize('cls', INTERPOLANTS)
def test_sparse_path_equals_dense_reference(cls):
    interpolant = cls(4).double()
    x, mask = sample()
    fill = torch.randn(4, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(interpolant(x, mask, fill),
                                   interpolant.forward_reference(x, mask, fill))


def test_zero_fill_keeps_samples_and_fills_the_rest():
    x, mask = sample()
    fill = torch.arange(4, dtype=torch.float64)
    got = ZeroFillInterpolant(4)(x, mask, fill)
    expected = torch.where(mask.unsqueeze(1), x, fill.view(1, -1, 1, 1).expand_as(x))
    assert torch.equal(got, expected)


def test_nearest_sample_reuses_the_nearest_feature():
    x = torch.zeros(1, 1, 1, 7, dtype=torch.float64)
    x[0, 0, 0, 0], x[0, 0, 0, 4] = 1.0, 5.0
    mask = torch.zeros(1, 1, 7, dtype=torch.bool)
    mask[0, 0, 0], mask[0, 0, 4] = True, True
    got = NearestSampleInterpolant(1)(x, mask)[0, 0, 0]
    assert got.tolist() == [1.0, 1.0, 3.0, 5.0, 5.0, 5.0, 5.0]  # position 2: a tie, averaged


def test_avg_pool_is_the_mean_of_the_window_samples():
    x, mask = sample(1, n=1, c=1, h=5, w=5, density=0.5)
    got = AvgPoolInterpolant(1, kernel_size=3)(x, mask)
    for y in range(5):
        for col in range(5):
            if mask[0, y, col]:
                continue
            window = mask[0, max(y - 1, 0):y + 2, max(col - 1, 0):col + 2]
            values = x[0, 0, max(y - 1, 0):y + 2, max(col - 1, 0):col + 2][window]
            expected = values.mean() if len(values) else torch.tensor(0.0, dtype=x.dtype)
            torch.testing.assert_close(got[0, 0, y, col], expected)


def test_rbf_bandwidth_is_log_parameterised_and_fills_far_pixels():
    rbf = RBFInterpolant(1, bandwidth=3.0)
    assert math.isclose(rbf.log_bandwidth.item(), math.log(3.0), rel_tol=1e-6)
    assert rbf.log_weight()[3, 5].item() == pytest.approx(-0.5 * 9 * 4)
    x = torch.zeros(1, 1, 7, 7)
    x[0, 0, 0, 0] = 2.0
    mask = torch.zeros(1, 7, 7, dtype=torch.bool)
    mask[0, 0, 0] = True
    with torch.no_grad():
        got = rbf(x, mask)
    assert torch.all(got[0, 0, :4, :4] == 2.0)  # 3 px away on both axes, not zero-filled


def test_gradients_reach_bandwidth_conv_window_and_soft_mask():
    x, _ = sample(2)
    soft = torch.rand(2, 9, 8, dtype=torch.float64, requires_grad=True)
    for interpolant in (RBFInterpolant(4).double(), ConvInterpolant(4).double()):
        soft.grad = None
        interpolant(x, soft).square().sum().backward()
        params = list(interpolant.parameters())
        assert len(params) == 1 and params[0].grad is not None
        assert params[0].grad.abs().sum() > 0 and soft.grad.abs().sum() > 0


def test_soft_forward_is_the_blend_of_sample_and_interpolation():
    """m x + (1 - m) interp, with the window's samples weighted by their soft mask."""
    x, _ = sample(3)
    soft = torch.rand(2, 9, 8, dtype=torch.float64)
    rbf = RBFInterpolant(4).double()
    log_weight = rbf.log_weight().detach().double().flatten()
    columns = F.unfold(x, 7, padding=3).view(2, 4, 49, 72)
    weights = F.unfold(soft.unsqueeze(1), 7, padding=3).view(
        2, 1, 49, 72) * torch.exp(log_weight - log_weight.max()).view(1, 1, 49, 1)
    interp = ((weights * columns).sum(2) / weights.sum(2)).view(2, 4, 9, 8)
    expected = soft.unsqueeze(1) * x + (1 - soft.unsqueeze(1)) * interp
    torch.testing.assert_close(rbf.forward_reference(x, soft), expected)


@pytest.mark.parametrize('kernel_size', [0, 2, 4])
def test_even_or_empty_window_is_refused(kernel_size):
    with pytest.raises(ValueError, match='RBFInterpolant: kernel_size must be odd'):
        RBFInterpolant(4, kernel_size=kernel_size)
