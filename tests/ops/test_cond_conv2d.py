"""cond_conv2d: the compiled kernel against the definition (a loop of per-sample convs with
mixed kernels) in float64, both strategies; the reference's values and gradients; errors."""
import importlib

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mmeff.ops import cond_conv2d, cond_conv2d_reference, has_extension
from tests.helpers import assert_fallback_warns_once, requires_cuda

requires_extension = pytest.mark.skipif(not has_extension(), reason='mmeff.ops._ext is not built')
cond_conv2d_module = importlib.import_module('mmeff.ops.cond_conv2d')


def per_sample_definition(x, weight, bias, routing, stride, padding, dilation, groups):
    """The op's formula, one sample at a time: conv(x[b], Σ r·W) + Σ r·bias."""
    outputs = []
    for b in range(x.shape[0]):
        kernel = torch.einsum('e,eoihw->oihw', routing[b], weight)
        mixed_bias = None if bias is None else routing[b] @ bias
        outputs.append(F.conv2d(x[b:b + 1], kernel, mixed_bias, stride, padding, dilation, groups))
    return torch.cat(outputs)


def random_case(g, batch, experts, c_in, c_out, kernel, groups, with_bias, dtype=torch.float64,
                size=(9, 8)):
    x = torch.randn(batch, c_in, *size, generator=g, dtype=dtype)
    weight = torch.randn(experts, c_out, c_in // groups, *kernel, generator=g, dtype=dtype)
    bias = torch.randn(experts, c_out, generator=g, dtype=dtype) if with_bias else None
    routing = torch.rand(batch, experts, generator=g, dtype=dtype)
    return x, weight, bias, routing


conv_cases = dict(batch=st.integers(1, 4), experts=st.integers(1, 5), group_size=st.integers(1, 3),
                  groups=st.integers(1, 3), out_per_group=st.integers(1, 3), kh=st.integers(1, 4),
                  kw=st.integers(1, 4), stride=st.integers(1, 2), padding=st.integers(0, 2),
                  dilation=st.integers(1, 2), with_bias=st.booleans(), seed=st.integers(0, 2**16))


@requires_extension
@settings(max_examples=120, deadline=None)
@given(**conv_cases, strategy=st.sampled_from(['auto', 'per_sample', 'grouped', 'matmul']),
       double=st.booleans(), channels_last=st.booleans())
def test_kernel_matches_definition(batch, experts, group_size, groups, out_per_group, kh, kw,
                                   stride, padding, dilation, with_bias, seed, strategy, double,
                                   channels_last):
    dtype = torch.float64 if double else torch.float32
    if strategy == 'matmul':  # pointwise convs only
        kh, kw, stride, padding, groups = 1, 1, 1, 0, 1
    g = torch.Generator().manual_seed(seed)
    x, weight, bias, routing = random_case(g, batch, experts, group_size * groups,
                                           out_per_group * groups, (kh, kw), groups, with_bias,
                                           dtype, size=(9, 8))
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    got = torch.ops.mmeff.cond_conv2d(x, weight, bias, routing, [stride] * 2, [padding] * 2,
                                      [dilation] * 2, groups, strategy)
    want = per_sample_definition(x.double(),
                                 weight.double(), None if bias is None else bias.double(),
                                 routing.double(), stride, padding, dilation, groups)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    assert got.dtype == dtype and got.shape == want.shape
    torch.testing.assert_close(got.double(), want, **tol)


@settings(max_examples=60, deadline=None)
@given(**conv_cases)
def test_reference_matches_definition(batch, experts, group_size, groups, out_per_group, kh, kw,
                                      stride, padding, dilation, with_bias, seed):
    g = torch.Generator().manual_seed(seed)
    x, weight, bias, routing = random_case(g, batch, experts, group_size * groups,
                                           out_per_group * groups, (kh, kw), groups, with_bias)
    got = cond_conv2d_reference(x, weight, bias, routing, stride=stride, padding=padding,
                                dilation=dilation, groups=groups)
    torch.testing.assert_close(
        got, per_sample_definition(x, weight, bias, routing, stride, padding, dilation, groups),
        rtol=1e-10, atol=1e-10)


@requires_extension
@pytest.mark.parametrize('batch', [1, 8])
@pytest.mark.parametrize('c_in, c_out, k, stride, groups, size', [
    (112, 672, 1, 1, 1, 14),
    (672, 672, 5, 1, 672, 14),
    (672, 672, 5, 2, 672, 14),
    (1152, 1152, 3, 1, 1152, 7),
    (1152, 320, 1, 1, 1, 7),
])
def test_kernel_on_efficientnet_b0_layers(batch, c_in, c_out, k, stride, groups, size):
    g = torch.Generator().manual_seed(0)
    x, weight, bias, routing = random_case(g, batch, 8, c_in, c_out, (k, k), groups, True,
                                           torch.float32, size=(size, size))
    got = cond_conv2d(x, weight, bias, routing, stride=stride, padding=k // 2, groups=groups)
    want = per_sample_definition(x.double(), weight.double(), bias.double(), routing.double(),
                                 stride, k // 2, 1, groups)
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4)


@requires_extension
def test_kernel_strategies_agree_at_batch_zero_and_one():
    g = torch.Generator().manual_seed(1)
    for batch in (0, 1):
        x, weight, bias, routing = random_case(g, batch, 3, 4, 6, (3, 3), 2, True)
        want = cond_conv2d_reference(x, weight, bias, routing, padding=1, groups=2)
        for strategy in ('per_sample', 'grouped', 'auto'):
            got = torch.ops.mmeff.cond_conv2d(x, weight, bias, routing, [1, 1], [1, 1], [1, 1], 2,
                                              strategy)
            assert got.shape == (batch, 6, 9, 8)
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        pointwise = weight[:, :, :1, :1, :1].repeat(1, 1, 4, 1, 1)
        want = cond_conv2d_reference(x, pointwise, bias, routing)
        got = torch.ops.mmeff.cond_conv2d(x, pointwise, bias, routing, [1, 1], [0, 0], [1, 1], 1,
                                          'matmul')
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@requires_extension
def test_opcheck():
    g = torch.Generator().manual_seed(2)
    x, weight, bias, routing = random_case(g, 3, 4, 6, 4, (3, 2), 2, True, torch.float32)
    for strategy in ('per_sample', 'grouped'):
        torch.library.opcheck(torch.ops.mmeff.cond_conv2d.default,
                              (x, weight, bias, routing, [2, 1], [1, 0], [1, 2], 2, strategy))
    pointwise = torch.randn(4, 4, 6, 1, 1, generator=g)
    torch.library.opcheck(torch.ops.mmeff.cond_conv2d.default,
                          (x, pointwise, bias, routing, [1, 1], [0, 0], [1, 1], 1, 'matmul'))
    torch.library.opcheck(torch.ops.mmeff.cond_conv2d.default,
                          (x[:1], weight, None, routing[:1], [1, 1], [0, 0], [1, 1], 2, 'auto'))


def test_gradients_take_the_reference_path():
    g = torch.Generator().manual_seed(3)
    leaves = [t.requires_grad_() for t in random_case(g, 3, 4, 4, 6, (3, 3), 2, True)]
    cond_conv2d(*leaves, stride=2, padding=1, groups=2).square().sum().backward()
    grads = [t.grad.clone() for t in leaves]
    for t in leaves:
        t.grad = None
    per_sample_definition(*leaves, 2, 1, 1, 2).square().sum().backward()
    for got, t in zip(grads, leaves):
        torch.testing.assert_close(got, t.grad, rtol=1e-10, atol=1e-10)


def test_wrapper_rejects_bad_arguments():
    g = torch.Generator().manual_seed(4)
    x, weight, bias, routing = random_case(g, 2, 4, 4, 6, (3, 3), 1, True)
    cases = [
        (dict(routing=routing[:1]), r'routing must have shape \(B, E\) = \(2, 4\)'),
        (dict(routing=routing[:, :3]), r'routing must have shape \(B, E\) = \(2, 4\)'),
        (dict(weight=weight[:0], bias=None, routing=routing[:, :0]), 'E >= 1'),
        (dict(weight=weight.flatten(1)), r'weight must be \(E, C_out, C_in/groups, kh, kw\)'),
        (dict(weight=weight[0]), r'weight must be \(E, C_out, C_in/groups, kh, kw\)'),
        (dict(bias=bias[0]), r'bias must have shape \(E, C_out\)'),
        (dict(groups=2), 'does not fit x'),
        (dict(groups=0), 'groups must be an int >= 1'),
        (dict(x=x[0]), r'x must be \(B, C_in, H, W\)'),
        (dict(strategy='loop'), 'strategy must be one of'),
        (dict(stride=0), 'stride must be >= 1'),
    ]
    for change, message in cases:
        args = dict(x=x, weight=weight, bias=bias, routing=routing, groups=1, strategy='auto')
        args.update(change)
        with pytest.raises(ValueError, match=message):
            cond_conv2d(args.pop('x'), args.pop('weight'), args.pop('bias'), args.pop('routing'),
                        **args)


@requires_extension
def test_kernel_rejects_bad_arguments():
    g = torch.Generator().manual_seed(5)
    x, weight, bias, routing = random_case(g, 2, 4, 4, 6, (3, 3), 1, True)
    op = torch.ops.mmeff.cond_conv2d
    geometry = ([1, 1], [1, 1], [1, 1], 1)
    cases = [
        ((x, weight, bias, routing[:1]), geometry, 'auto', r'cond_conv2d: routing must have shape'),
        ((x, weight, bias, routing.float()), geometry, 'auto', 'routing must be Double'),
        ((x, weight[:0], None, routing[:, :0]), geometry, 'auto', r'at least one expert'),
        ((x, weight.flatten(1), bias, routing), geometry, 'auto', 'weight must be 5-D'),
        ((x, weight, bias[0], routing), geometry, 'auto', r'bias must have shape \(E, C_out\)'),
        ((x, weight, bias, routing), ([1, 1], [1, 1], [1, 1], 4), 'auto', 'groups=4 must divide'),
        ((x, weight, bias, routing), ([1, 1], [1, 1], [1, 1], 2), 'auto',
         'expects 8 input channels with groups=2'),
        ((x, weight, bias, routing), ([0, 1], [1, 1], [1, 1], 1), 'auto', 'stride must be >= 1'),
        ((x, weight, bias, routing), ([1, 1], [0, 0], [4, 4], 1), 'auto', 'smaller than the'),
        ((x, weight, bias, routing), geometry, 'loop', "strategy must be 'auto'"),
        ((x, weight, bias, routing), geometry, 'matmul', "'matmul' needs a pointwise conv"),
    ]
    for tensors, (stride, padding, dilation, groups), strategy, message in cases:
        with pytest.raises(RuntimeError, match=message):
            op(*tensors, stride, padding, dilation, groups, strategy)


@requires_extension
def test_fallback_warns_once(monkeypatch):
    g = torch.Generator().manual_seed(6)
    x, weight, bias, routing = random_case(g, 2, 3, 4, 6, (3, 3), 2, True)
    assert_fallback_warns_once(
        monkeypatch, 'cond_conv2d',
        lambda: cond_conv2d_module.cond_conv2d(x, weight, bias, routing, padding=1, groups=2),
        lambda: cond_conv2d_reference(x, weight, bias, routing, padding=1, groups=2))


@requires_extension
@requires_cuda
@pytest.mark.parametrize('strategy', ['auto', 'per_sample', 'grouped'])
def test_cuda_kernel_matches_cpu_kernel(strategy):
    g = torch.Generator().manual_seed(7)
    x, weight, bias, routing = random_case(g, 3, 4, 6, 6, (3, 3), 3, True)
    args = ([2, 1], [1, 1], [1, 1], 3, strategy)
    want = torch.ops.mmeff.cond_conv2d(x, weight, bias, routing, *args)
    got = torch.ops.mmeff.cond_conv2d(x.cuda(), weight.cuda(), bias.cuda(), routing.cuda(), *args)
    torch.testing.assert_close(got.cpu(), want, rtol=1e-10, atol=1e-10)


@requires_extension
@requires_cuda
def test_cuda_matmul_strategy_matches_cpu_kernel():
    g = torch.Generator().manual_seed(8)
    x, weight, bias, routing = random_case(g, 3, 4, 6, 5, (1, 1), 1, True)
    args = ([1, 1], [0, 0], [1, 1], 1, 'matmul')
    want = torch.ops.mmeff.cond_conv2d(x, weight, bias, routing, *args)
    got = torch.ops.mmeff.cond_conv2d(x.cuda(), weight.cuda(), bias.cuda(), routing.cuda(), *args)
    torch.testing.assert_close(got.cpu(), want, rtol=1e-10, atol=1e-10)
