"""depthwise_conv2d: the compiled CPU kernel against F.conv2d(groups=C) in float64."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mmeff.ops import depthwise_conv2d, depthwise_conv2d_reference, has_extension
from tests.helpers import assert_fallback_warns_once

requires_extension = pytest.mark.skipif(not has_extension(), reason='mmeff.ops._ext is not built')


def expected(x, weight, bias, stride, padding, dilation):
    return F.conv2d(x.double(), weight.double(), None if bias is None else bias.double(), stride,
                    padding, dilation, x.shape[1])


@requires_extension
@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 20), h=st.integers(1, 19), w=st.integers(1, 19),
       kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 3), sw=st.integers(1, 3),
       ph=st.integers(0, 3), pw=st.integers(0, 3), dh=st.integers(1, 2), dw_=st.integers(1, 2),
       with_bias=st.booleans(), double=st.booleans(), transposed=st.booleans(),
       seed=st.integers(0, 2**16))
def test_kernel_matches_conv2d(n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw_, with_bias, double,
                               transposed, seed):
    if h + 2 * ph < (kh - 1) * dh + 1 or w + 2 * pw < (kw - 1) * dw_ + 1:
        return  # no output: covered by test_rejects_bad_arguments
    dtype = torch.float64 if double else torch.float32
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, w, h, generator=g, dtype=dtype).transpose(2, 3) if transposed else \
        torch.randn(n, c, h, w, generator=g, dtype=dtype)
    weight = torch.randn(c, 1, kh, kw, generator=g, dtype=dtype)
    bias = torch.randn(c, generator=g, dtype=dtype) if with_bias else None
    got = torch.ops.mmeff.depthwise_conv2d(x, weight, bias, [sh, sw], [ph, pw], [dh, dw_])
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    assert got.dtype == dtype and got.is_contiguous()
    torch.testing.assert_close(got.double(), expected(x, weight, bias, (sh, sw), (ph, pw),
                                                      (dh, dw_)), **tol)


@requires_extension
@pytest.mark.parametrize('c, k, s, size', [(24, 5, 2, 86), (80, 3, 2, 43), (184, 3, 1, 11),
                                           (344, 5, 1, 6)])
def test_kernel_on_movinet_a0_layers(c, k, s, size):
    x, weight, bias = torch.randn(1, c, size, size), torch.randn(c, 1, k, k), torch.randn(c)
    got = depthwise_conv2d(x, weight, bias, stride=s, padding=k // 2)
    torch.testing.assert_close(got.double(), expected(x, weight, bias, s, k // 2, 1), rtol=1e-5,
                               atol=1e-5)


@requires_extension
def test_rejects_bad_arguments():
    x = torch.randn(1, 4, 5, 5)
    with pytest.raises(RuntimeError, match='weight must have shape'):
        torch.ops.mmeff.depthwise_conv2d(x, torch.randn(4, 2, 3, 3), None, [1, 1], [0, 0], [1, 1])
    with pytest.raises(RuntimeError, match='bias dtype'):
        torch.ops.mmeff.depthwise_conv2d(x, torch.randn(4, 1, 3, 3),
                                         torch.randn(4).double(), [1, 1], [0, 0], [1, 1])
    for kernel, stride in ((7, 1), (6, 2)):  # (6, 2): one short of a window, stride 2
        with pytest.raises(RuntimeError, match='smaller than the'):
            torch.ops.mmeff.depthwise_conv2d(x, torch.randn(4, 1, kernel, kernel), None,
                                             [stride, stride], [0, 0], [1, 1])
    with pytest.raises(RuntimeError, match='stride must be >= 1'):
        torch.ops.mmeff.depthwise_conv2d(x, torch.randn(4, 1, 3, 3), None, [0, 1], [0, 0], [1, 1])
    with pytest.raises(ValueError, match=r'weight \(C, 1, kh, kw\)'):
        depthwise_conv2d(x, torch.randn(2, 1, 3, 3))
    for geometry, message in ((dict(stride=0), 'stride must be >= 1'),
                              (dict(stride=2.0), 'stride must be an int or a pair of ints'),
                              (dict(padding=(1, True)), 'padding must be an int or a pair')):
        with pytest.raises(ValueError, match=f'depthwise_conv2d: {message}'):
            depthwise_conv2d(x, torch.randn(4, 1, 3, 3), **geometry)


@requires_extension
def test_opcheck():
    x, weight, bias = torch.randn(1, 5, 9, 8), torch.randn(5, 1, 3, 3), torch.randn(5)
    torch.library.opcheck(torch.ops.mmeff.depthwise_conv2d.default,
                          (x, weight, bias, [2, 1], [1, 1], [1, 2]))


def test_gradients_take_the_reference_path():
    x = torch.randn(1, 3, 6, 6, requires_grad=True)
    weight = torch.randn(3, 1, 3, 3, requires_grad=True)
    depthwise_conv2d(x, weight, padding=1).square().sum().backward()
    grads = (x.grad.clone(), weight.grad.clone())
    x.grad, weight.grad = None, None
    depthwise_conv2d_reference(x, weight, padding=1).square().sum().backward()
    torch.testing.assert_close(grads, (x.grad, weight.grad))


def test_fallback_without_extension_warns_once_and_is_correct(monkeypatch):
    x, weight = torch.randn(1, 3, 6, 6), torch.randn(3, 1, 3, 3)
    assert_fallback_warns_once(monkeypatch, 'depthwise_conv2d',
                               lambda: depthwise_conv2d(x, weight, stride=2, padding=1),
                               lambda: F.conv2d(x, weight, None, 2, 1, 1, 3))
