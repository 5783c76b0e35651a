"""sparse_interp2d: the compiled kernels against the dense reference, in float64."""
import importlib
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmeff.ops import has_extension, sparse_interp2d, sparse_interp2d_reference
from tests.helpers import assert_fallback_warns_once, requires_cuda

requires_extension = pytest.mark.skipif(not has_extension(), reason='mmeff.ops._ext is not built')
op_module = importlib.import_module('mmeff.ops.sparse_interp2d')


def brute_force(x, mask, log_weight, fill=None):
    """The contract, position by position, in float64 (an oracle for the reference)."""
    n, c, h, w = x.shape
    k = log_weight.shape[-1]
    lw = log_weight.double().reshape(-1, k, k).expand(c, k, k)
    out = torch.zeros(n, c, h, w, dtype=torch.float64)
    for b in range(n):
        for y in range(h):
            for col in range(w):
                if mask[b, y, col]:
                    out[b, :, y, col] = x[b, :, y, col].double()
                    continue
                for ch in range(c):
                    taps = [
                        (lw[ch, i, j].item(), x[b, ch, y + i - k // 2, col + j - k // 2].item())
                        for i in range(k) for j in range(k)
                        if 0 <= y + i - k // 2 < h and 0 <= col + j - k // 2 < w
                        and mask[b, y + i - k // 2, col + j - k // 2] and lw[ch, i, j] > -math.inf
                    ]
                    if not taps:
                        out[b, ch, y, col] = 0.0 if fill is None else fill[ch].item()
                        continue
                    top = max(t for t, _ in taps)
                    weights = [math.exp(t - top) for t, _ in taps]
                    out[b, ch, y,
                        col] = sum(wt * v for wt, (_, v) in zip(weights, taps)) / sum(weights)
    return out


def random_case(seed, n, c, h, w, k, density, per_channel, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=g, dtype=dtype)
    mask = torch.rand(n, h, w, generator=g) < density
    x = torch.where(mask.unsqueeze(1), x, torch.nan)  # unsampled values must never be read
    shape = (c, k, k) if per_channel else (k, k)
    log_weight = 3 * torch.randn(shape, generator=g, dtype=dtype)
    log_weight[torch.rand(shape, generator=g) < 0.1] = -math.inf
    return x, mask, log_weight


def run_kernel(x, mask, log_weight, fill=None, channels_last=False):
    out = torch.full(x.shape, 7.0, dtype=x.dtype, device=x.device)
    if channels_last:  # the pixel-major loop
        out = out.contiguous(memory_format=torch.channels_last)
    torch.ops.mmeff.sparse_interp2d(x, mask, log_weight, fill, out)
    return out


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 6),
       w=st.integers(1, 6), k=st.sampled_from([1, 3, 5]), density=st.floats(0, 1),
       per_channel=st.booleans(), with_fill=st.booleans())
def test_reference_matches_the_contract(seed, n, c, h, w, k, density, per_channel, with_fill):
    x, mask, log_weight = random_case(seed, n, c, h, w, k, density, per_channel)
    fill = torch.randn(c, dtype=torch.float64) if with_fill else None
    torch.testing.assert_close(sparse_interp2d_reference(x, mask, log_weight, fill),
                               brute_force(x, mask, log_weight, fill), rtol=1e-12, atol=1e-12)


@requires_extension
@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 3), c=st.integers(1, 9), h=st.integers(1, 17),
       w=st.integers(1, 17), k=st.sampled_from([1, 3, 5, 7, 9]), density=st.floats(0, 1),
       per_channel=st.booleans(), with_fill=st.booleans(), double=st.booleans(),
       transposed=st.booleans(), channels_last=st.booleans())
def test_kernel_matches_reference(seed, n, c, h, w, k, density, per_channel, with_fill, double,
                                  transposed, channels_last):
    dtype = torch.float64 if double else torch.float32
    x, mask, log_weight = random_case(seed, n, c, h, w, k, density, per_channel, dtype)
    if transposed:  # a non-contiguous x
        x = x.transpose(2, 3).contiguous().transpose(2, 3)
    fill = torch.randn(c, dtype=dtype) if with_fill else None
    got = run_kernel(x, mask, log_weight, fill, channels_last)
    expected = sparse_interp2d_reference(x.double(), mask, log_weight.double(),
                                         None if fill is None else fill.double())
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got.double(), expected, **tol)
    assert torch.equal(got[mask.unsqueeze(1).expand_as(got)], x[mask.unsqueeze(1).expand_as(x)])


@requires_extension
@pytest.mark.parametrize('c, size, density', [(64, 56, 0.3), (128, 28, 0.5), (256, 14, 0.25)])
def test_kernel_on_resnet_stage_shapes(c, size, density):
    x, mask, _ = random_case(0, 2, c, size, size, 7, density, False, torch.float32)
    offsets = torch.arange(7, dtype=torch.float32) - 3
    rbf = -4.5 * (offsets.view(-1, 1)**2 + offsets.view(1, -1)**2)  # bandwidth s = 3
    torch.testing.assert_close(
        sparse_interp2d(x, mask, rbf).double(),
        sparse_interp2d_reference(x.double(), mask, rbf.double()), rtol=1e-5, atol=1e-5)


@requires_extension
def test_narrow_rbf_fills_pixels_far_from_the_nearest_sample():
    """The 1e-5 pitfall: with s = 3 a pixel 2 px from its only sample gets that sample."""
    x = torch.zeros(1, 1, 7, 7)
    x[0, 0, 3, 3] = 5.0
    mask = torch.zeros(1, 7, 7, dtype=torch.bool)
    mask[0, 3, 3] = True
    offsets = torch.arange(7, dtype=torch.float32) - 3
    rbf = -4.5 * (offsets.view(-1, 1)**2 + offsets.view(1, -1)**2)
    for fn in (sparse_interp2d, sparse_interp2d_reference):
        torch.testing.assert_close(fn(x, mask, rbf), torch.full_like(x, 5.0))


def test_soft_mask_reference_is_differentiable_and_blends():
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    soft = torch.rand(2, 6, 6, dtype=torch.float64, requires_grad=True)
    log_weight = torch.randn(3, 3, 3, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(sparse_interp2d_reference, (x, soft, log_weight), eps=1e-6, atol=1e-6)
    hard = soft.detach() > 0.5
    torch.testing.assert_close(sparse_interp2d_reference(x, hard.double(), log_weight),
                               sparse_interp2d_reference(x, hard, log_weight))


def test_gradients_take_the_reference_path():
    x = torch.randn(1, 2, 5, 5, requires_grad=True)
    log_weight = torch.zeros(3, 3, requires_grad=True)
    mask = torch.rand(1, 5, 5) < 0.5
    sparse_interp2d(x, mask, log_weight).square().sum().backward()
    grads = (x.grad.clone(), log_weight.grad.clone())
    x.grad, log_weight.grad = None, None
    sparse_interp2d_reference(x, mask, log_weight).square().sum().backward()
    torch.testing.assert_close(grads, (x.grad, log_weight.grad))


@requires_extension
def test_channels_last_input_gives_a_channels_last_result():
    x, mask, _ = random_case(4, 2, 6, 9, 7, 5, 0.3, False, torch.float32)
    x = x.contiguous(memory_format=torch.channels_last)
    log_weight, fill = torch.randn(5, 5), torch.randn(6)
    got = sparse_interp2d(x, mask, log_weight, fill)
    assert got.is_contiguous(memory_format=torch.channels_last) and not got.is_contiguous()
    torch.testing.assert_close(got, sparse_interp2d_reference(x, mask, log_weight, fill))


@requires_extension
def test_out_is_overwritten_and_returned():
    x, mask, log_weight = random_case(3, 2, 4, 8, 8, 3, 0.4, True, torch.float32)
    out = torch.full_like(x, 123.0)
    assert sparse_interp2d(x, mask, log_weight, out=out) is out
    torch.testing.assert_close(out, sparse_interp2d_reference(x, mask, log_weight))


@requires_extension
def test_opcheck():
    x, mask, log_weight = random_case(1, 2, 3, 6, 5, 3, 0.5, True, torch.float32)
    x = torch.nan_to_num(x)
    torch.library.opcheck(torch.ops.mmeff.sparse_interp2d.default,
                          (x, mask, log_weight, torch.randn(3), torch.empty_like(x)))
    torch.library.opcheck(torch.ops.mmeff.sparse_interp2d.default,
                          (x, mask, log_weight[0], None, torch.empty_like(x)))


@requires_extension
def test_kernel_rejects_bad_arguments():
    x = torch.randn(2, 3, 5, 5)
    mask = torch.rand(2, 5, 5) < 0.5
    lw = torch.zeros(3, 3)
    cases = [
        ((x, mask[:1], lw, None, torch.zeros_like(x)), 'mask must have shape'),
        ((x, mask.float(), lw, None, torch.zeros_like(x)), 'mask must be bool'),
        ((x, mask, torch.zeros(4,
                               4), None, torch.zeros_like(x)), "log_weight's window must be odd"),
        ((x, mask, torch.zeros(33, 33), None, torch.zeros_like(x)),
         "log_weight's window 33x33 is larger"),
        ((x, mask, torch.zeros(2, 3, 3), None, torch.zeros_like(x)), 'log_weight must have 3'),
        ((x, mask, lw.double(), None, torch.zeros_like(x)), 'log_weight must be'),
        ((x, mask, lw, torch.zeros(2), torch.zeros_like(x)), r'fill must have shape \(3,\)'),
        ((x, mask, lw, None, torch.zeros(2, 3, 5, 4)), "out must have x's shape"),
        ((x, mask, lw, None, x), 'out shares memory with x'),
    ]
    for args, message in cases:
        out = args[-1]
        before = out.clone()
        with pytest.raises(RuntimeError, match=f'sparse_interp2d: {message}'):
            torch.ops.mmeff.sparse_interp2d(*args)
        assert torch.equal(out, before)


def test_wrapper_rejects_bad_arguments():
    x = torch.randn(2, 3, 5, 5)
    mask = torch.rand(2, 5, 5) < 0.5
    cases = [
        ((x[0], mask, torch.zeros(3, 3)), ValueError, 'x must be 4-D'),
        ((x, mask[:, :4], torch.zeros(3, 3)), ValueError, 'mask must have shape'),
        ((x, mask, torch.zeros(4, 4)), ValueError, 'log_weight window must be odd'),
        ((x, mask, torch.zeros(33, 33)), ValueError,
         'log_weight window must be odd and at most 31, got 33x33'),
        ((x, mask, torch.zeros(3, 5)), ValueError, 'log_weight must be'),
        ((x, mask.long(), torch.zeros(3, 3)), TypeError, 'mask must be bool'),
        ((x.long(), mask, torch.zeros(3, 3)), TypeError, 'x must be floating point'),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=f'sparse_interp2d: {message}'):
            sparse_interp2d(*args)
    with pytest.raises(ValueError, match='fill must have shape'):
        sparse_interp2d(x, mask, torch.zeros(3, 3), torch.zeros(4))


def test_fallback_without_extension_warns_once_and_is_correct(monkeypatch):
    x, mask, log_weight = random_case(5, 1, 2, 6, 6, 3, 0.3, False, torch.float32)
    assert_fallback_warns_once(monkeypatch, 'sparse_interp2d',
                               lambda: sparse_interp2d(x, mask, log_weight),
                               lambda: brute_force(x, mask, log_weight).float())


@requires_cuda
@requires_extension
def test_cuda_kernel_matches_cpu():
    for per_channel in (False, True):
        x, mask, log_weight = random_case(7, 2, 5, 13, 11, 7, 0.3, per_channel, torch.float32)
        fill = torch.randn(5)
        got = run_kernel(x.cuda(), mask.cuda(), log_weight.cuda(), fill.cuda())
        torch.testing.assert_close(got.cpu(), run_kernel(x, mask, log_weight, fill), rtol=1e-5,
                                   atol=1e-5)
