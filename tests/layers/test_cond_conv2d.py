"""CondConv2d against timm's CondConv2d (loaded weights, float64: outputs and gradients), its
routers, batch independence, initialisation, state-dict layout, errors and registration."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmcv.cnn import ConvModule, build_conv_layer
from timm.layers import CondConv2d as TimmCondConv2d

from mmeff import CondConv2d
from mmeff.layers import CondConvRouter


def timm_pair(in_channels, out_channels, kernel, stride, padding, dilation, groups, bias, experts):
    """A timm layer with random weights and an mmeff layer (external routing) loaded from it."""
    theirs = TimmCondConv2d(in_channels, out_channels, kernel, stride, padding, dilation, groups,
                            bias, experts).double()
    ours = CondConv2d(in_channels, out_channels, kernel, stride, padding, dilation, groups, bias,
                      experts, routing='external').double()
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 4), experts=st.integers(1, 8), group_size=st.integers(1, 3),
       groups=st.integers(1, 4), out_per_group=st.integers(1, 3), kernel=st.sampled_from([1, 3, 5]),
       stride=st.integers(1, 2), dilation=st.integers(1, 2), bias=st.booleans(),
       depthwise=st.booleans(), seed=st.integers(0, 2**16))
def test_matches_timm_outputs_and_gradients(batch, experts, group_size, groups, out_per_group,
                                            kernel, stride, dilation, bias, depthwise, seed):
    torch.manual_seed(seed)
    if depthwise:
        group_size, out_per_group = 1, 1
    c_in, c_out = group_size * groups, out_per_group * groups
    padding = dilation * (kernel // 2)
    theirs, ours = timm_pair(c_in, c_out, kernel, stride, padding, dilation, groups, bias, experts)
    x = torch.randn(batch, c_in, 9, 8, dtype=torch.float64)
    routing = torch.rand(batch, experts, dtype=torch.float64)
    outputs, grads = [], []
    for layer in (theirs, ours):
        xi, ri = x.clone().requires_grad_(), routing.clone().requires_grad_()
        y = layer(xi, ri)
        y.mul(torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
        outputs.append(y.detach())
        grads.append([xi.grad, ri.grad] + [p.grad for p in layer.parameters()])
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-12, atol=1e-12)
    for got, want in zip(grads[1], grads[0]):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    with torch.no_grad():  # the compiled op's path
        torch.testing.assert_close(ours(x, routing), outputs[0], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('routing', ['sigmoid', 'softmax'])
def test_batch_one_equals_batch_eight(routing):
    torch.manual_seed(0)
    layer = CondConv2d(6, 12, 3, stride=2, padding=1, groups=3, num_experts=4,
                       routing=routing).double()
    x = torch.randn(8, 6, 11, 10, dtype=torch.float64)
    with torch.no_grad():
        whole = layer(x)
        one_by_one = torch.cat([layer(x[b:b + 1]) for b in range(8)])
    torch.testing.assert_close(whole, one_by_one, rtol=1e-12, atol=1e-12)


def test_own_router_routes_from_the_input():
    torch.manual_seed(1)
    layer = CondConv2d(4, 6, 3, padding=1, num_experts=3).double()
    x = torch.randn(2, 4, 7, 7, dtype=torch.float64)
    routing = torch.sigmoid(layer.router.fc(x.mean((2, 3))))
    torch.testing.assert_close(layer(x), layer(x, routing))


def test_router_gates():
    torch.manual_seed(2)
    x = torch.randn(3, 5, 4, 4)
    sigmoid, softmax = CondConvRouter(5, 4), CondConvRouter(5, 4, gate='softmax', temperature=2.0)
    softmax.fc.load_state_dict(sigmoid.fc.state_dict())
    logits = sigmoid.fc(x.mean((2, 3)))
    torch.testing.assert_close(sigmoid(x), torch.sigmoid(logits))
    torch.testing.assert_close(softmax(x), torch.softmax(logits / 2, 1))
    with pytest.raises(ValueError, match='gate must be one of'):
        CondConvRouter(5, 4, gate='relu')
    with pytest.raises(ValueError, match='num_experts must be >= 1'):
        CondConvRouter(5, 0)


def test_init_matches_a_conv_per_expert():
    torch.manual_seed(3)
    layer = CondConv2d(64, 32, 3, num_experts=4)
    fan_in = 64 * 9
    # kaiming_uniform_(a=sqrt(5)) and the bias init of nn.Conv2d: both uniform(±1/sqrt(fan_in))
    bound = 1 / math.sqrt(fan_in)
    for expert_weight, expert_bias in zip(layer.weight, layer.bias):
        assert expert_weight.abs().max() <= bound and expert_bias.abs().max() <= bound
        assert expert_weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert not torch.equal(layer.weight[0], layer.weight[1])
    conv_module = ConvModule(8, 8, 3, conv_cfg=dict(type='CondConv2d', num_experts=2))
    assert conv_module.conv.weight.abs().max() <= 1 / math.sqrt(8 * 9)  # init_weights kept it


def test_state_dict_layout_errors():
    layer = CondConv2d(4, 6, 3, num_experts=2, routing='external')
    timm_layer = TimmCondConv2d(4, 6, 3, bias=True, num_experts=2)
    assert set(layer.state_dict()) == set(timm_layer.state_dict()) == {'weight', 'bias'}
    per_expert = dict(weight=torch.zeros(2, 6, 4, 3, 3), bias=torch.zeros(2, 6))
    with pytest.raises(ValueError, match=r"timm's layout .* per-expert .* flatten\(1\)"):
        layer.load_state_dict(per_expert)
    with pytest.raises(ValueError, match="static conv's"):
        layer.load_state_dict(dict(weight=torch.zeros(6, 4, 3, 3), bias=torch.zeros(2, 6)))
    with pytest.raises(ValueError, match=r'= \(2, 216\), got \(4, 216\)'):
        layer.load_state_dict(dict(weight=torch.zeros(4, 216), bias=torch.zeros(2, 6)))


def test_bad_arguments():
    with pytest.raises(ValueError, match='num_experts must be an int >= 1'):
        CondConv2d(4, 4, 3, num_experts=0)
    with pytest.raises(ValueError, match='routing must be one of'):
        CondConv2d(4, 4, 3, routing='gumbel')
    with pytest.raises(ValueError, match='groups=3 must divide'):
        CondConv2d(4, 4, 3, groups=3)
    layer = CondConv2d(4, 4, 3, num_experts=3, routing='external')
    with pytest.raises(ValueError, match="routing='external' needs the routing weights"):
        layer(torch.randn(1, 4, 5, 5))
    x, routing = torch.randn(2, 4, 5, 5), torch.rand(2, 4)
    with pytest.raises(ValueError, match=r'routing must have shape \(B, E\) = \(2, 3\)'):
        layer(x, routing)  # the reference path (autograd): checked in Python
    with torch.no_grad(), pytest.raises(RuntimeError,
                                        match=r'routing must have shape \(B, E\) = \(2, 3\)'):
        layer(x, routing)  # the compiled op: checked in C++


def test_builds_as_conv_cfg():
    conv = build_conv_layer(dict(type='CondConv2d', num_experts=8), 16, 32, 3, stride=2, padding=1,
                            bias=False)
    assert isinstance(conv, CondConv2d) and conv.num_experts == 8 and conv.bias is None
    assert conv.weight.shape == (8, 32 * 16 * 9)
    module = ConvModule(16, 16, 3, padding=1, groups=16,
                        conv_cfg=dict(type='CondConv2d', num_experts=4,
                                      routing='softmax'), norm_cfg=dict(type='BN'))
    assert module(torch.randn(2, 16, 8, 8)).shape == (2, 16, 8, 8)
