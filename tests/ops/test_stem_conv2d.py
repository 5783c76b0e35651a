"""stem_conv2d: the compiled CPU kernel against its plain-PyTorch reference."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmeff.ops import has_extension, stem_conv2d, stem_conv2d_reference
from tests.helpers import assert_fallback_warns_once

requires_extension = pytest.mark.skipif(not has_extension(), reason='mmeff.ops._ext is not built')


@requires_extension
@settings(max_examples=120, deadline=None)
@given(n=st.integers(1, 2), cin=st.integers(1, 8), cout=st.integers(1, 9), h=st.integers(1, 17),
       w=st.integers(1, 17), kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 3),
       sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
       activation=st.sampled_from(['identity', 'relu', 'hswish']), with_bias=st.booleans(),
       double=st.booleans(), seed=st.integers(0, 2**16))
def test_kernel_matches_the_reference(n, cin, cout, h, w, kh, kw, sh, sw, ph, pw, activation,
                                      with_bias, double, seed):
    if h + 2 * ph < kh or w + 2 * pw < kw:
        return  # no output: covered by test_rejects_bad_arguments
    dtype = torch.float64 if double else torch.float32
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, cin, h, w, generator=g, dtype=dtype) * 2
    weight = torch.randn(cout, cin, kh, kw, generator=g, dtype=dtype)
    bias = torch.randn(cout, generator=g, dtype=dtype) if with_bias else None
    kwargs = dict(stride=(sh, sw), padding=(ph, pw), activation=activation, check_finite=True)
    got = stem_conv2d(x, weight, bias, **kwargs)
    expected = stem_conv2d_reference(x.double(), weight.double(),
                                     None if bias is None else bias.double(), **kwargs)
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    assert got.dtype == dtype and got.is_contiguous()
    torch.testing.assert_close(got.double(), expected, **tol)


@requires_extension
def test_the_movinet_a0_stem():
    """3 -> 8 channels, 3x3, stride 2 on a 172² frame, 2 threads (output channels split)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x, weight, bias = torch.randn(1, 3, 172, 172), torch.randn(8, 3, 3, 3), torch.randn(8)
        got = stem_conv2d(x, weight, bias, stride=2, padding=1, activation='hswish')
        expected = stem_conv2d_reference(x.double(), weight.double(), bias.double(), stride=2,
                                         padding=1, activation='hswish')
        torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')])
def test_non_finite_input_is_rejected_when_asked(bad):
    x, weight = torch.randn(1, 3, 9, 9), torch.randn(4, 3, 3, 3)
    x[0, 2, 8, 0] = bad
    with pytest.raises(ValueError, match='NaN or Inf'):
        stem_conv2d(x, weight, stride=2, padding=1, check_finite=True)
    assert not torch.isfinite(stem_conv2d(x, weight, stride=2, padding=1)).all()


@requires_extension
def test_rejects_bad_arguments():
    op = torch.ops.mmeff.stem_conv2d
    x = torch.randn(1, 3, 6, 6)
    with pytest.raises(RuntimeError, match=r'weight must have shape \(C_out, 3, kh, kw\)'):
        op(x, torch.randn(4, 2, 3, 3), None, [1, 1], [0, 0], 'relu', False)
    with pytest.raises(RuntimeError, match='x must have 1 to 8 channels'):
        op(torch.randn(1, 9, 6, 6), torch.randn(4, 9, 3, 3), None, [1, 1], [0, 0], 'relu', False)
    with pytest.raises(RuntimeError, match='smaller than the kernel'):
        op(x, torch.randn(4, 3, 7, 7), None, [1, 1], [0, 0], 'relu', False)
    with pytest.raises(RuntimeError, match=r'bias must have shape \(4,\)'):
        op(x, torch.randn(4, 3, 3, 3), torch.randn(3), [1, 1], [0, 0], 'relu', False)
    with pytest.raises(RuntimeError, match='stride must be >= 1'):
        op(x, torch.randn(4, 3, 3, 3), None, [0, 1], [0, 0], 'relu', False)
    with pytest.raises(RuntimeError, match="activation must be 'identity', 'relu' or 'hswish'"):
        op(x, torch.randn(4, 3, 3, 3), None, [1, 1], [0, 0], 'gelu', False)
    with pytest.raises(ValueError, match='activation must be one of'):
        stem_conv2d(x, torch.randn(4, 3, 3, 3), activation='gelu')


@requires_extension
def test_opcheck():
    x, weight, bias = torch.randn(2, 3, 9, 8), torch.randn(5, 3, 3, 3), torch.randn(5)
    torch.library.opcheck(torch.ops.mmeff.stem_conv2d.default,
                          (x, weight, bias, [2, 1], [1, 1], 'hswish', True))


def test_gradients_and_many_channels_take_the_reference_path():
    x = torch.randn(1, 3, 6, 6, requires_grad=True)
    weight = torch.randn(4, 3, 3, 3, requires_grad=True)
    stem_conv2d(x, weight, padding=1, activation='relu').square().sum().backward()
    grads = (x.grad.clone(), weight.grad.clone())
    x.grad = weight.grad = None
    stem_conv2d_reference(x, weight, padding=1, activation='relu').square().sum().backward()
    torch.testing.assert_close(grads, (x.grad, weight.grad))
    wide, wide_weight = torch.randn(1, 12, 5, 5), torch.randn(2, 12, 3, 3)
    torch.testing.assert_close(stem_conv2d(wide, wide_weight),
                               stem_conv2d_reference(wide, wide_weight))


def test_fallback_without_extension_warns_once_and_is_correct(monkeypatch):
    x, weight = torch.randn(1, 3, 7, 7), torch.randn(4, 3, 3, 3)
    kwargs = dict(stride=2, padding=1, activation='hswish')
    assert_fallback_warns_once(monkeypatch, 'stem_conv2d', lambda: stem_conv2d(x, weight, **kwargs),
                               lambda: stem_conv2d_reference(x, weight, **kwargs))
