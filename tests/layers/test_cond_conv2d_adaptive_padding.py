"""CondConv2dAdaptivePadding: TensorFlow 'same' padding, equal to mmcv's Conv2dAdaptivePadding
with the mixed kernel, for odd and even sizes, strides 1 and 2."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmcv.cnn.bricks import Conv2dAdaptivePadding

from mmeff.layers import CondConv2dAdaptivePadding, same_padding


@settings(deadline=None, max_examples=25)
@given(size=st.tuples(st.integers(1, 13), st.integers(1, 13)), kernel=st.sampled_from([1, 3, 5]),
       stride=st.sampled_from([1, 2]), dilation=st.sampled_from([1, 2]), depthwise=st.booleans(),
       experts=st.integers(1, 4), batch=st.integers(1, 3))
def test_equals_adaptive_padding_conv_with_the_mixed_kernel(size, kernel, stride, dilation,
                                                            depthwise, experts, batch):
    torch.manual_seed(0)
    channels = 6
    groups = channels if depthwise else 1
    layer = CondConv2dAdaptivePadding(channels, channels, kernel, stride, padding=7,
                                      dilation=dilation, groups=groups, bias=True,
                                      num_experts=experts, routing='external').double()
    x = torch.randn(batch, channels, *size, dtype=torch.float64)
    routing = torch.rand(batch, experts, dtype=torch.float64)
    out = layer(x, routing)
    for b in range(batch):
        static = Conv2dAdaptivePadding(channels, channels, kernel, stride, dilation=dilation,
                                       groups=groups).double()
        static.weight.data = torch.einsum('e,eoihw->oihw', routing[b], layer.experts())
        static.bias.data = routing[b] @ layer.bias
        torch.testing.assert_close(out[b:b + 1], static(x[b:b + 1]))


@pytest.mark.parametrize('size, kernel, stride, expected', [(14, 5, 2, (1, 2)), (14, 5, 1, (2, 2)),
                                                            (7, 3, 2, (1, 1)), (8, 1, 2, (0, 0))])
def test_same_padding_puts_the_odd_pixel_after(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride, 1) == expected


def test_external_routing_without_routing_names_the_argument():
    layer = CondConv2dAdaptivePadding(4, 4, 3, num_experts=2, routing='external')
    with pytest.raises(ValueError, match='routing'):
        layer(torch.randn(1, 4, 5, 5))


def test_own_router_makes_it_a_conv_cfg_drop_in():
    layer = CondConv2dAdaptivePadding(4, 8, 3, stride=2, num_experts=3)
    assert layer(torch.randn(2, 4, 9, 9)).shape == (2, 8, 5, 5)
