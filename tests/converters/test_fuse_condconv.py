"""fuse_condconv: a static conv equal to a CondConv layer for a fixed routing."""
import pytest
import torch
from torch import nn

from mmeff.converters import fuse_condconv
from mmeff.layers import CondConv2d


@pytest.mark.parametrize('groups, bias, stride', [(1, True, 1), (4, False, 2), (8, True, 1)])
def test_fused_layer_equals_the_layer(groups, bias, stride):
    torch.manual_seed(0)
    layer = CondConv2d(8, 16, 3, stride=stride, padding=2, dilation=2, groups=groups, bias=bias,
                       num_experts=5, routing='external').double()
    routing = torch.rand(1, 5, dtype=torch.float64)
    fused = fuse_condconv(layer, routing)
    assert type(fused) is nn.Conv2d and (fused.bias is None) == (not bias)
    x = torch.randn(3, 8, 10, 9, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), layer(x, routing.expand(3, 5)), rtol=1e-12, atol=1e-12)


def test_fuses_every_layer_of_a_model():
    torch.manual_seed(1)
    model = nn.Sequential(CondConv2d(3, 6, 3, padding=1, num_experts=4), nn.ReLU(),
                          nn.Sequential(CondConv2d(6, 6, 1, num_experts=4)))
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        first = model[0].router(x)
        second = model[2][0].router(torch.relu(model[0](x)))
        want = model(x)
    fuse_condconv(model, {'0': first, '2.0': second})
    assert not any(isinstance(m, CondConv2d) for m in model.modules())
    with torch.no_grad():
        torch.testing.assert_close(model(x), want, rtol=1e-5, atol=1e-5)


def test_errors():
    layer = CondConv2d(2, 2, 1, num_experts=3)
    with pytest.raises(ValueError, match='3 expert weights'):
        fuse_condconv(layer, torch.rand(4))
    with pytest.raises(ValueError, match='one routing tensor'):
        fuse_condconv(layer, {'': torch.rand(3)})
    with pytest.raises(ValueError, match=r"name exactly the CondConv layers \['0'\]"):
        fuse_condconv(nn.Sequential(layer), {'1': torch.rand(3)})
