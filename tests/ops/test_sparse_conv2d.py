"""sparse_conv2d: compiled kernels against F.conv2d restricted to the mask."""
import importlib

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mmeff.ops import (conv2d_output_size, extension, has_extension, sparse_conv2d,
                       sparse_conv2d_reference)
from mmeff.ops.extension import extension_error
from tests.helpers import block_mask, requires_cuda

# The module (its name is shadowed by the function in mmeff.ops).
sc = importlib.import_module('mmeff.ops.sparse_conv2d')


def expected(x, weight, bias, mask, out, stride, padding, dilation, groups):
    """F.conv2d in float64, selected by mask, over `out` (or zeros)."""
    dense = F.conv2d(x.double(), weight.double(), None if bias is None else bias.double(), stride,
                     padding, dilation, groups)
    base = torch.zeros_like(dense) if out is None else out.double()
    return torch.where(mask.unsqueeze(1), dense, base)


def kernel(x, weight, bias, mask, out, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """The compiled op itself, bypassing the wrapper's dense crossover."""
    torch.ops.mmeff.sparse_conv2d(x, weight, bias, mask, out, list(stride), list(padding),
                                  list(dilation), groups)
    return out


def make_case(n, cin, cout, h, w, k, stride, padding, dilation, groups, density, dtype,
              channels_last=False, with_bias=True, seed=0, block=1):
    g = torch.Generator().manual_seed(seed)
    kh, kw = k
    x = torch.randn(n, cin, h, w, generator=g, dtype=dtype)
    weight = torch.randn(cout, cin // groups, kh, kw, generator=g, dtype=dtype)
    bias = torch.randn(cout, generator=g, dtype=dtype) if with_bias else None
    ho, wo = conv2d_output_size((h, w), k, stride, padding, dilation)
    if block > 1:
        mask = block_mask(n, ho, wo, block, density, seed)
    else:
        mask = torch.rand(n, ho, wo, generator=g) < density
    out = torch.randn(n, cout, ho, wo, generator=g, dtype=dtype)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
        out = out.to(memory_format=torch.channels_last)
    return x, weight, bias, mask, out


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)


def test_extension_is_built():
    assert has_extension(), f'mmeff.ops._ext failed to load: {extension_error()}'


# (n, cin, cout, h, w, kernel, stride, padding, dilation, groups)
CASES = [
    (1, 8, 16, 17, 23, (3, 3), (1, 1), (1, 1), (1, 1), 1),
    (2, 6, 4, 20, 19, (3, 3), (2, 2), (1, 1), (1, 1), 1),
    (1, 5, 7, 15, 16, (1, 1), (1, 1), (0, 0), (1, 1), 1),
    (3, 4, 6, 12, 13, (1, 1), (2, 2), (0, 0), (1, 1), 1),
    (1, 8, 8, 21, 18, (3, 3), (1, 1), (2, 2), (2, 2), 1),
    (1, 3, 5, 16, 16, (5, 5), (1, 1), (2, 2), (1, 1), 1),
    (1, 4, 4, 14, 17, (3, 5), (1, 2), (0, 3), (1, 1), 1),
    (2, 12, 12, 16, 15, (3, 3), (1, 1), (1, 1), (1, 1), 12),  # depthwise
    (1, 6, 12, 13, 11, (3, 3), (2, 2), (1, 1), (1, 1), 6),  # depthwise, multiplier 2
    (1, 8, 12, 15, 14, (3, 3), (1, 1), (1, 1), (1, 1), 4),  # grouped
    (1, 8, 4, 16, 16, (3, 3), (3, 2), (2, 1), (2, 1), 2),  # grouped, odd geometry
    (1, 16, 16, 9, 70, (3, 3), (1, 1), (1, 1), (1, 1), 1),  # runs longer than 64
    (1, 4, 8, 7, 7, (7, 7), (1, 1), (3, 3), (1, 1), 1),  # kernel as large as input
    (1, 4, 4, 10, 10, (3, 3), (1, 1), (4, 4), (1, 1), 1),  # padding larger than kernel
]


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('density', [0.05, 0.3, 0.9])
def test_kernel_matches_dense_conv_on_mask(case, dtype, channels_last, density):
    n, cin, cout, h, w, k, s, p, d, groups = case
    x, weight, bias, mask, out = make_case(n, cin, cout, h, w, k, s, p, d, groups, density, dtype,
                                           channels_last)
    want = expected(x, weight, bias, mask, out, s, p, d, groups)
    got = kernel(x, weight, bias, mask, out, s, p, d, groups)
    torch.testing.assert_close(got.double(), want, **tol(dtype))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3), cin_g=st.integers(1, 5), cout_g=st.integers(1, 5),
       groups=st.integers(1, 3), h=st.integers(1, 24), w=st.integers(1, 24), kh=st.integers(1, 5),
       kw=st.integers(1, 5), sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 3),
       pw=st.integers(0, 3), dh=st.integers(1, 3), dw=st.integers(1, 3),
       density=st.floats(0.0, 1.0), block=st.sampled_from([1, 2, 4, 8]),
       channels_last=st.booleans(), with_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_kernel_random_geometry_float64(n, cin_g, cout_g, groups, h, w, kh, kw, sh, sw, ph, pw, dh,
                                        dw, density, block, channels_last, with_bias, seed):
    ho, wo = conv2d_output_size((h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw))
    if ho < 1 or wo < 1:
        with pytest.raises(ValueError, match='smaller than the'):
            sparse_conv2d(torch.zeros(n, cin_g * groups, h, w, dtype=torch.float64),
                          torch.zeros(cout_g * groups, cin_g, kh, kw, dtype=torch.float64),
                          stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups)
        return
    x, weight, bias, mask, out = make_case(n, cin_g * groups, cout_g * groups, h, w, (kh, kw),
                                           (sh, sw), (ph, pw), (dh, dw), groups, density,
                                           torch.float64, channels_last, with_bias, seed, block)
    want = expected(x, weight, bias, mask, out, (sh, sw), (ph, pw), (dh, dw), groups)
    got = kernel(x, weight, bias, mask, out.clone(), (sh, sw), (ph, pw), (dh, dw), groups)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    public = sparse_conv2d(x, weight, bias, mask, stride=(sh, sw), padding=(ph, pw),
                           dilation=(dh, dw), groups=groups, out=out.clone())
    torch.testing.assert_close(public, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('block', [2, 4, 8])
@pytest.mark.parametrize('cin,cout,h,w', [(32, 32, 48, 64), (64, 64, 24, 32), (16, 48, 40, 40)])
def test_block_structured_masks(block, cin, cout, h, w):
    x, weight, bias, mask, out = make_case(1, cin, cout, h, w, (3, 3), (1, 1), (1, 1), (1, 1), 1,
                                           0.2, torch.float32, block=block)
    want = expected(x, weight, bias, mask, out, (1, 1), (1, 1), (1, 1), 1)
    torch.testing.assert_close(
        kernel(x, weight, bias, mask, out, padding=(1, 1)).double(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('channels_last', [False, True])
def test_empty_mask_leaves_out_untouched(channels_last):
    x, weight, bias, mask, out = make_case(2, 4, 6, 9, 9, (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.0,
                                           torch.float32, channels_last)
    assert not mask.any()
    before = out.clone()
    assert kernel(x, weight, bias, mask, out, padding=(1, 1)) is out
    assert torch.equal(out, before)
    assert sparse_conv2d(x, weight, bias, mask, padding=1, out=out) is out
    assert torch.equal(out, before)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_full_mask_equals_conv2d(dtype):
    x, weight, bias, _, out = make_case(2, 8, 8, 16, 12, (3, 3), (2, 1), (1, 1), (1, 1), 2, 1.0,
                                        dtype)
    mask = torch.ones(out.shape[0], *out.shape[2:], dtype=torch.bool)
    dense = F.conv2d(x, weight, bias, (2, 1), (1, 1), 1, 2)
    torch.testing.assert_close(kernel(x, weight, bias, mask, out, (2, 1), (1, 1), (1, 1), 2), dense,
                               **tol(dtype))
    torch.testing.assert_close(
        sparse_conv2d(x, weight, bias, mask, stride=(2, 1), padding=1, groups=2), dense,
        **tol(dtype))
    torch.testing.assert_close(
        sparse_conv2d(x, weight, bias, None, stride=(2, 1), padding=1, groups=2), dense,
        **tol(dtype))


@pytest.mark.parametrize('with_out', [False, True])
def test_a_zero_size_batch_with_a_mask_gives_the_empty_conv(with_out):
    x, weight, bias = torch.randn(0, 3, 8, 8), torch.randn(4, 3, 3, 3), torch.randn(4)
    want = F.conv2d(x, weight, bias, padding=1)
    out = torch.empty(0, 4, 8, 8) if with_out else None
    got = sparse_conv2d(x, weight, bias, torch.zeros(0, 8, 8, dtype=torch.bool), padding=1, out=out)
    assert got.shape == want.shape == (0, 4, 8, 8)
    assert (got is out) if with_out else got.dtype == want.dtype


@pytest.mark.skipif(not has_extension(), reason='the compiled extension is not built')
@pytest.mark.parametrize('alias', ['x', 'weight'])
def test_out_sharing_memory_with_an_input_is_refused(alias):
    """Neighbouring selected regions made the kernel read inputs it had overwritten."""
    buffer = torch.randn(3000)
    x = buffer[:1024].view(1, 4, 16, 16)
    weight = buffer[1000:1144].view(4, 4, 3, 3)  # overlaps the end of x's memory
    mask = torch.zeros(1, 16, 16, dtype=torch.bool)
    mask[:, :8, :8] = mask[:, :8, 8:] = True  # two neighbouring 8x8 blocks, below the crossover
    out = x if alias == 'x' else buffer[1100:2124].view(1, 4, 16, 16)
    before = (x.clone(), weight.clone())
    with pytest.raises(RuntimeError, match=f'out shares memory with {alias}'):
        sparse_conv2d(x, weight, None, mask, padding=1, out=out)
    assert torch.equal(x, before[0]) and torch.equal(weight, before[1])


@pytest.mark.skipif(not has_extension(), reason='the compiled extension is not built')
def test_disjoint_strided_views_of_one_buffer_are_accepted():
    """Views ATen cannot decide on are compared by the bytes they span, not refused."""
    buffer = torch.randn(2048)
    x = buffer[:1024].view(1, 4, 16, 16)[:, :, :15]  # not dense: ATen's overlap test gives up
    out = buffer[1024:1024 + 960].view(1, 4, 15, 16)  # dense, after x's last byte
    weight = torch.randn(4, 4, 3, 3)
    mask = torch.zeros(1, 15, 16, dtype=torch.bool)
    mask[:, :8, :8] = True
    want = sparse_conv2d_reference(x.clone(), weight, None, mask, padding=1, out=out.clone())
    got = sparse_conv2d(x, weight, None, mask, padding=1, out=out)
    torch.testing.assert_close(got, want)


@pytest.mark.skipif(not has_extension(), reason='the compiled extension is not built')
def test_a_conv_without_channels_is_refused_by_the_compiled_op():
    mask = torch.ones(1, 8, 8, dtype=torch.bool)
    with pytest.raises(RuntimeError, match='at least one channel'):
        torch.ops.mmeff.sparse_conv2d(torch.randn(1, 0, 8, 8), torch.randn(4, 0, 3, 3), None, mask,
                                      torch.zeros(1, 4, 8, 8), [1, 1], [1, 1], [1, 1], 1)


def test_out_is_written_in_place_and_returned():
    x, weight, bias, mask, out = make_case(1, 4, 4, 10, 10, (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.3,
                                           torch.float64)
    before = out.clone()
    result = sparse_conv2d(x, weight, bias, mask, padding=1, out=out)
    assert result is out
    dense = F.conv2d(x, weight, bias, padding=1)
    sel = mask.unsqueeze(1).expand_as(out)
    torch.testing.assert_close(out[sel], dense[sel])
    assert torch.equal(out[~sel], before[~sel])


def test_without_out_unselected_positions_are_zero_and_format_follows_input():
    x, weight, bias, mask, _ = make_case(1, 4, 4, 10, 10, (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.3,
                                         torch.float32, channels_last=True)
    y = sparse_conv2d(x, weight, bias, mask, padding=1)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.all(y.permute(1, 0, 2, 3)[:, ~mask] == 0)
    torch.testing.assert_close(y.double(), expected(x, weight, bias, mask, None, 1, 1, 1, 1),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('x_cl,out_cl', [(True, False), (False, True)])
def test_mixed_memory_formats(x_cl, out_cl):
    x, weight, bias, mask, out = make_case(2, 8, 6, 11, 13, (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.4,
                                           torch.float64)
    if x_cl:
        x = x.to(memory_format=torch.channels_last)
    if out_cl:
        out = out.to(memory_format=torch.channels_last)
    want = expected(x, weight, bias, mask, out, 1, 1, 1, 1)
    torch.testing.assert_close(kernel(x, weight, bias, mask, out, padding=(1, 1)), want)


def test_dense_crossover_gives_the_same_result():
    x, weight, bias, mask, out = make_case(1, 4, 4, 12, 12, (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.95,
                                           torch.float64)
    assert mask.float().mean() >= sc.DENSE_CROSSOVER_DENSITY
    want = expected(x, weight, bias, mask, out, 1, 1, 1, 1)
    torch.testing.assert_close(sparse_conv2d(x, weight, bias, mask, padding=1, out=out), want)


@pytest.mark.slow
def test_gradcheck_float64():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, generator=g, requires_grad=True)
    weight = torch.randn(3, 2, 3, 3, dtype=torch.float64, generator=g, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, generator=g, requires_grad=True)
    mask = torch.rand(1, 5, 6, generator=g) < 0.5

    def fn(x, weight, bias):
        return sparse_conv2d(x, weight, bias, mask, padding=1)

    assert torch.autograd.gradcheck(fn, (x, weight, bias))


def test_opcheck():
    x, weight, bias, mask, out = make_case(1, 4, 6, 8, 9, (3, 3), (1, 1), (1, 1), (1, 1), 2, 0.4,
                                           torch.float32)
    torch.library.opcheck(torch.ops.mmeff.sparse_conv2d.default,
                          (x, weight, bias, mask, out, [1, 1], [1, 1], [1, 1], 2))


def test_reference_matches_definition():
    x, weight, bias, mask, out = make_case(2, 6, 4, 9, 10, (3, 3), (2, 1), (1, 2), (1, 2), 2, 0.5,
                                           torch.float64)
    want = expected(x, weight, bias, mask, out, (2, 1), (1, 2), (1, 2), 2)
    got = sparse_conv2d_reference(x, weight, bias, mask, stride=(2, 1), padding=(1, 2),
                                  dilation=(1, 2), groups=2, out=out)
    torch.testing.assert_close(got, want)


def test_fallback_without_extension_warns_once_and_is_correct(monkeypatch):
    messages = []
    monkeypatch.setattr(extension, 'print_log', lambda msg, **kwargs: messages.append(msg))
    monkeypatch.setattr(extension, 'has_extension', lambda: False)
    extension.warn_fallback.cache_clear()
    x, weight, bias, mask, out = make_case(1, 4, 4, 8, 8, (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.2,
                                           torch.float64)
    want = expected(x, weight, bias, mask, out, 1, 1, 1, 1)
    for _ in range(3):
        got = sparse_conv2d(x, weight, bias, mask, padding=1, out=out.clone())
        torch.testing.assert_close(got, want)
    assert len(messages) == 1 and 'pure-PyTorch reference' in messages[0]
    extension.warn_fallback.cache_clear()


def _args(**over):
    x, weight, bias, mask, out = make_case(2, 4, 6, 10, 10, (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.3,
                                           torch.float32)
    kw = dict(x=x, weight=weight, bias=bias, mask=mask, out=out, padding=1)
    kw.update(over)
    return kw


def _call(kw):
    kw = dict(kw)
    return sparse_conv2d(kw.pop('x'), kw.pop('weight'), kw.pop('bias'), kw.pop('mask'), **kw)


BAD_INPUTS = [
    ('x rank', dict(x=torch.randn(4, 10, 10)), ValueError, 'x must be 4-D'),
    ('weight rank', dict(weight=torch.randn(6, 4, 3)), ValueError, 'weight must be 4-D'),
    ('mask shape', dict(mask=torch.ones(2, 9, 10, dtype=torch.bool)), ValueError,
     'mask must have the output shape'),
    ('mask batch', dict(mask=torch.ones(1, 10, 10, dtype=torch.bool)), ValueError,
     'mask must have the output shape'),
    ('mask dtype', dict(mask=torch.ones(2, 10, 10)), TypeError, 'mask must be bool'),
    ('out shape', dict(out=torch.zeros(2, 5, 10, 10)), ValueError, 'out must have shape'),
    ('out dtype', dict(out=torch.zeros(2, 6, 10, 10, dtype=torch.float64)), TypeError, 'out dtype'),
    ('weight dtype', dict(weight=torch.randn(6, 4, 3, 3, dtype=torch.float64)), TypeError,
     'weight dtype'),
    ('bias shape', dict(bias=torch.randn(5)), ValueError, 'bias must have shape'),
    ('negative padding', dict(padding=-1), ValueError, 'padding must be >= 0'),
    ('zero stride', dict(stride=0), ValueError, 'stride must be >= 1'),
    ('zero dilation', dict(dilation=(1, 0)), ValueError, 'dilation must be >= 1'),
    ('float stride', dict(stride=1.0), ValueError,
     r'stride must be an int or a pair of ints, got 1\.0'),
    ('float padding', dict(padding=(1, 0.5)), ValueError, 'padding must be an int or a pair'),
    ('bool dilation', dict(dilation=True), ValueError, 'dilation must be an int or a pair'),
    ('stride triple', dict(stride=(1, 1, 1)), ValueError, 'stride must be an int or a pair'),
    ('groups', dict(groups=3), ValueError, 'groups=3 must divide'),
    ('channels', dict(weight=torch.randn(6, 3, 3, 3)), ValueError, 'expects 3 input channels'),
    ('integer x', dict(x=torch.ones(2, 4, 10, 10, dtype=torch.int64)), TypeError,
     'x must be floating point'),
    ('meta mask', dict(mask=torch.ones(2, 10, 10, dtype=torch.bool, device='meta')), ValueError,
     'mask is on meta'),
    ('meta out', dict(out=torch.zeros(2, 6, 10, 10, device='meta')), ValueError, 'out is on meta'),
]


@pytest.mark.parametrize('name,over,exc,msg', BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_rejected_with_a_clear_error(name, over, exc, msg):
    kw = _args(**over)
    out_before = kw['out'].clone() if kw['out'].device.type != 'meta' else None
    with pytest.raises(exc, match=msg):
        _call(kw)
    if out_before is not None:
        assert torch.equal(kw['out'], out_before), 'a rejected call must not touch out'


@pytest.mark.parametrize('over,msg', [
    (dict(mask=torch.ones(2, 9, 10, dtype=torch.bool)), 'mask must have the output'),
    (dict(mask=torch.ones(2, 10, 10)), 'mask must be bool'),
    (dict(padding=[-1, 1]), 'padding must be non-negative'),
    (dict(x=torch.randn(4, 10, 10)), 'x must be 4-D'),
    (dict(out=torch.zeros(2, 6, 10, 10).expand(2, 6, 10, 10)[:, :, :, :].as_strided((
        2, 6, 10, 10), (0, 0, 10, 1))), 'out must be dense and non-overlapping'),
])
def test_compiled_op_checks_its_arguments(over, msg):
    kw = _args(**over)
    padding = kw['padding'] if isinstance(kw['padding'], list) else [1, 1]
    with pytest.raises(RuntimeError, match=msg):
        torch.ops.mmeff.sparse_conv2d(kw['x'], kw['weight'], kw['bias'], kw['mask'], kw['out'],
                                      [1, 1], padding, [1, 1], 1)


def test_compiled_op_rejects_an_input_one_short_of_a_window_at_stride_2():
    """(5 - 6) // 2 truncates to 0 in C++: the op must not take that for one output row."""
    with pytest.raises(RuntimeError, match='smaller than the'):
        torch.ops.mmeff.sparse_conv2d(torch.randn(1, 2, 5, 5), torch.randn(3, 2, 6, 6), None,
                                      torch.ones(1, 1, 1, dtype=torch.bool),
                                      torch.zeros(1, 3, 1, 1), [2, 2], [0, 0], [1, 1], 1)


@requires_cuda
@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('channels_last', [False, True])
def test_cuda_kernel_matches_cpu(case, channels_last):
    n, cin, cout, h, w, k, s, p, d, groups = case
    x, weight, bias, mask, out = make_case(n, cin, cout, h, w, k, s, p, d, groups, 0.3,
                                           torch.float64, channels_last)
    want = expected(x, weight, bias, mask, out, s, p, d, groups)
    got = kernel(x.cuda(), weight.cuda(), bias.cuda(), mask.cuda(), out.cuda(), s, p, d, groups)
    torch.testing.assert_close(got.cpu(), want)


@requires_cuda
def test_cuda_device_mismatch_is_rejected():
    kw = _args(mask=torch.ones(2, 10, 10, dtype=torch.bool, device='cuda'))
    with pytest.raises(ValueError, match='mask is on cuda'):
        _call(kw)


# ------------------------------------------------------------------ direct tile path (float32)

SUPPORTED_LEVEL = torch.ops.mmeff._set_cpu_kernel_level(2) if has_extension() else 0
LEVEL_NAMES = {0: 'gather-GEMM', 1: 'AVX2 tiles', 2: 'AVX-512 tiles'}


@pytest.fixture(params=sorted(LEVEL_NAMES), ids=lambda lv: LEVEL_NAMES[lv])
def kernel_level(request):
    """Runs a test at each CPU kernel level this CPU supports, then restores the best one."""
    level = request.param
    if level > SUPPORTED_LEVEL:
        pytest.skip(
            reason=f'this CPU has no {LEVEL_NAMES[level]} (best: {LEVEL_NAMES[SUPPORTED_LEVEL]})')
    assert torch.ops.mmeff._set_cpu_kernel_level(level) == level
    yield level
    torch.ops.mmeff._set_cpu_kernel_level(2)


def partial_tile_mask(n, ho, wo, seed, keep=0.7):
    """Whole 8x8 blocks with some positions removed: tiles the direct path takes but computes
    only partly (the store must honour the mask)."""
    g = torch.Generator().manual_seed(seed)
    return block_mask(n, ho, wo, 8, 0.5, seed) & (torch.rand(n, ho, wo, generator=g) < keep)


# (n, cin, cout, h, w, kernel, stride, padding, dilation, groups)
TILE_CASES = [
    (1, 32, 32, 48, 64, (3, 3), (1, 1), (1, 1), (1, 1), 1),  # whole tiles only
    (2, 16, 20, 37, 29, (3, 3), (1, 1), (1, 1), (1, 1), 1),  # border tiles, odd sizes
    (1, 8, 7, 33, 35, (3, 3), (2, 2), (1, 1), (1, 1), 1),  # stride 2: phase-split tile
    (1, 6, 9, 30, 31, (3, 3), (1, 3), (0, 2), (1, 1), 1),  # stride 3 across, none down
    (1, 8, 8, 30, 30, (3, 3), (1, 1), (2, 2), (2, 2), 1),  # dilation
    (1, 5, 11, 26, 28, (5, 3), (2, 1), (2, 1), (1, 2), 1),  # non-square kernel
    (1, 70, 13, 20, 21, (1, 1), (1, 1), (0, 0), (1, 1), 1),  # 1x1, several channel chunks
    (1, 40, 40, 20, 20, (3, 3), (1, 1), (1, 1), (1, 1), 1),  # two channel chunks
    (1, 16, 16, 30, 30, (3, 3), (1, 1), (1, 1), (1, 1), 16),  # depthwise
    (1, 8, 16, 30, 30, (3, 3), (2, 2), (1, 1), (1, 1), 8),  # depthwise, multiplier 2
    (1, 16, 24, 30, 30, (3, 3), (1, 1), (1, 1), (1, 1), 4),  # grouped
    (3, 4, 5, 9, 10, (3, 3), (1, 1), (1, 1), (1, 1), 1),  # tiles larger than the output
]


@pytest.mark.parametrize('case', TILE_CASES)
@pytest.mark.parametrize('mask_kind', ['blocks', 'partial tiles', 'scattered'])
@pytest.mark.parametrize('channels_last', [False, True])
def test_tile_path_matches_dense_conv_on_mask(kernel_level, case, mask_kind, channels_last):
    n, cin, cout, h, w, k, s, p, d, groups = case
    x, weight, bias, _, out = make_case(n, cin, cout, h, w, k, s, p, d, groups, 0.0, torch.float32,
                                        channels_last, seed=7)
    ho, wo = out.shape[2:]
    if mask_kind == 'blocks':
        mask = block_mask(n, ho, wo, 8, 0.4, seed=1)
    elif mask_kind == 'partial tiles':
        mask = partial_tile_mask(n, ho, wo, seed=2)
    else:
        mask = torch.rand(n, ho, wo, generator=torch.Generator().manual_seed(3)) < 0.3
    want = expected(x, weight, bias, mask, out, s, p, d, groups)
    got = kernel(x, weight, bias, mask, out, s, p, d, groups)
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('weight_cl,out_cl,with_bias', [(True, False, True), (False, True, False),
                                                        (True, True, True)])
def test_tile_path_memory_formats(kernel_level, weight_cl, out_cl, with_bias):
    x, weight, bias, _, out = make_case(2, 12, 10, 24, 20, (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.0,
                                        torch.float32, with_bias=with_bias, seed=5)
    mask = block_mask(2, 24, 20, 8, 0.5, seed=4) | partial_tile_mask(2, 24, 20, seed=6)
    if weight_cl:
        weight = weight.to(memory_format=torch.channels_last)
    if out_cl:
        out = out.to(memory_format=torch.channels_last)
    want = expected(x, weight, bias, mask, out, 1, 1, 1, 1)
    torch.testing.assert_close(
        kernel(x, weight, bias, mask, out, padding=(1, 1)).double(), want, rtol=1e-4, atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 2), cin_g=st.integers(1, 20), cout_g=st.integers(1, 20),
       groups=st.integers(1, 3), h=st.integers(1, 40), w=st.integers(1, 40), kh=st.integers(1, 5),
       kw=st.integers(1, 5), sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 3),
       pw=st.integers(0, 3), dh=st.integers(1, 3), dw=st.integers(1,
                                                                  3), density=st.floats(0.0, 1.0),
       block=st.sampled_from([4, 8, 16]), channels_last=st.booleans(), seed=st.integers(0, 2**16))
def test_tile_path_random_geometry_float32(n, cin_g, cout_g, groups, h, w, kh, kw, sh, sw, ph, pw,
                                           dh, dw, density, block, channels_last, seed):
    ho, wo = conv2d_output_size((h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw))
    if ho < 1 or wo < 1:
        return  # no output: rejected with an error, tested in the float64 property test
    x, weight, bias, mask, out = make_case(n, cin_g * groups, cout_g * groups, h, w, (kh, kw),
                                           (sh, sw), (ph, pw), (dh, dw), groups, density,
                                           torch.float32, channels_last, True, seed, block)
    want = expected(x, weight, bias, mask, out, (sh, sw), (ph, pw), (dh, dw), groups)
    got = kernel(x, weight, bias, mask, out, (sh, sw), (ph, pw), (dh, dw), groups)
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4)


def test_cpu_kernel_level_is_checked():
    with pytest.raises(RuntimeError, match='level must be 0, 1 or 2'):
        torch.ops.mmeff._set_cpu_kernel_level(3)
    assert torch.ops.mmeff._set_cpu_kernel_level(0) == 0
    assert torch.ops.mmeff._set_cpu_kernel_level(2) == SUPPORTED_LEVEL


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('density', [0.1, 0.9])
def test_half_and_bfloat16_take_the_reference_at_any_density(dtype, density):
    g = torch.Generator().manual_seed(0)
    x, weight = torch.randn(1, 4, 8, 8, generator=g), torch.randn(6, 4, 3, 3, generator=g)
    mask = torch.rand(1, 6, 6, generator=g) < density
    got = sparse_conv2d(x.to(dtype), weight.to(dtype), None, mask)
    expected = sparse_conv2d_reference(x.to(dtype), weight.to(dtype), None, mask)
    assert got.dtype == dtype
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize('n, c, h, w, c_out, padding',
                         [(n, c, h, w, c_out, p) for n in (0, 1, 2) for c in (1, 3)
                          for h in (0, 1, 5) for w in (0, 1, 4) for c_out in (1, 2)
                          for p in (0, 1) if h + 2 * p >= 3 and w + 2 * p >= 3 or n == 0])
def test_zero_and_one_sized_dimensions_agree_with_the_reference_or_both_refuse(
        n, c, h, w, c_out, padding):
    """Zero- and one-sized batch, channels and frames: the op returns what the reference
    returns, or both refuse (the op with a ValueError naming the sizes)."""
    g = torch.Generator().manual_seed(0)
    x, weight = torch.randn(n, c, h, w, generator=g), torch.randn(c_out, c, 3, 3, generator=g)
    bias = torch.randn(c_out, generator=g)
    out_hw = (max(h + 2 * padding - 2, 0), max(w + 2 * padding - 2, 0))
    mask = torch.rand(n, *out_hw, generator=g) < 0.3
    try:
        expected = sparse_conv2d_reference(x, weight, bias, mask, padding=padding)
    except RuntimeError:
        with pytest.raises(ValueError, match='smaller than the'):
            sparse_conv2d(x, weight, bias, mask, padding=padding)
        return
    got = sparse_conv2d(x, weight, bias, mask, padding=padding)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
