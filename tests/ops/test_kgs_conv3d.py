"""kgs_conv3d: the compiled kernels against F.conv3d of the masked weight, in float64."""
import importlib

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mmeff.layers.kernel_group_sparsity import kernel_group_mask
from mmeff.ops import (has_extension, kgs_conv3d, kgs_conv3d_reference, pack_kgs_conv3d_weight,
                       unpack_kgs_conv3d_weight)
from tests.helpers import assert_fallback_warns_once, requires_cuda

requires_extension = pytest.mark.skipif(not has_extension(), reason='mmeff.ops._ext is not built')
kgs_module = importlib.import_module('mmeff.ops.kgs_conv3d')


def random_mask(shape, group_size, density, generator):
    """A KGS mask (a kept-position set per g_M x g_N group) with about ``density`` kept."""
    m, n, *kernel = shape
    gm, gn = group_size
    units = torch.rand(-(-m // gm), -(-n // gn), *kernel, generator=generator) < density
    return units.repeat_interleave(gm, 0).repeat_interleave(gn, 1)[:m, :n].contiguous()


def call_kernel(x, packed, bias, m, kernel, stride, padding, dilation, device=None):
    args = [t.to(device) if device else t for t in (x, *packed)]
    bias = bias.to(device) if device and bias is not None else bias
    return torch.ops.mmeff.kgs_conv3d(*args, bias, m, list(kernel), list(stride), list(padding),
                                      list(dilation))


@requires_extension
@settings(max_examples=120, deadline=None)
@given(batch=st.integers(1, 2), n=st.integers(1, 12), m=st.integers(1, 20),
       size=st.tuples(st.integers(1, 6), st.integers(1, 9),
                      st.integers(1, 9)), kernel=st.tuples(st.integers(1, 3), st.integers(1, 3),
                                                           st.integers(1, 3)),
       stride=st.tuples(st.integers(1, 2), st.integers(1, 3),
                        st.integers(1, 3)), padding=st.tuples(st.integers(0, 2), st.integers(0, 2),
                                                              st.integers(0, 2)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2),
                          st.integers(1, 2)), group_size=st.tuples(st.integers(1, 9),
                                                                   st.integers(1, 5)),
       density=st.sampled_from([0.0, 0.2, 0.5, 1.0]), with_bias=st.booleans(), double=st.booleans(),
       seed=st.integers(0, 2**16))
def test_kernel_matches_the_masked_dense_conv(batch, n, m, size, kernel, stride, padding, dilation,
                                              group_size, density, with_bias, double, seed):
    if any(s + 2 * p < d * (k - 1) + 1 for s, k, p, d in zip(size, kernel, padding, dilation)):
        return  # no output: covered by test_rejects_bad_arguments
    dtype = torch.float64 if double else torch.float32
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n, *size, generator=g, dtype=dtype)
    weight = torch.randn(m, n, *kernel, generator=g, dtype=dtype)
    mask = random_mask(weight.shape, group_size, density, g)
    bias = torch.randn(m, generator=g, dtype=dtype) if with_bias else None
    packed = pack_kgs_conv3d_weight(weight, mask, group_size[0])
    got = call_kernel(x, packed, bias, m, kernel, stride, padding, dilation)
    want = F.conv3d(x.double(), (weight * mask).double(), None if bias is None else bias.double(),
                    stride, padding, dilation)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    assert got.dtype == dtype and got.is_contiguous()
    torch.testing.assert_close(got.double(), want, **tol)


def test_packing_keeps_exactly_the_kept_positions_of_each_group():
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(10, 8, 3, 3, 3, generator=g, dtype=torch.float64)
    mask = kernel_group_mask(weight, 'kgs', 0.6, (4, 4), pad=True)
    values, block_ptr, columns = pack_kgs_conv3d_weight(weight, mask, 4)
    assert block_ptr.tolist()[0] == 0 and values.shape == (columns.numel(), 4)
    for a in range(3):  # the block's columns are the union of its groups' kept positions
        kept = mask[4 * a:4 * a + 4].reshape(-1 if a < 2 else 2, 8 * 27).any(0)
        assert columns[block_ptr[a]:block_ptr[a + 1]].tolist() == kept.nonzero().flatten().tolist()
    assert columns.numel() == mask.reshape(10, 8, 27)[::4].sum()  # 4 | 10 rows: whole groups
    assert torch.equal(unpack_kgs_conv3d_weight(values, block_ptr, columns, 10, 8, 3),
                       weight * mask)


@requires_extension
@pytest.mark.parametrize('shape, size, stride, density', [
    ((64, 3, 3, 3, 3), (8, 28, 28), 1, 0.5),
    ((128, 64, 3, 3, 3), (8, 14, 14), 1, 0.33),
    ((144, 64, 1, 3, 3), (4, 14, 14), 1, 0.2),
    ((128, 144, 3, 1, 1), (4, 7, 7), (2, 1, 1), 0.5),
])
def test_kernel_on_c3d_and_r2plus1d_layers(shape, size, stride, density):
    g = torch.Generator().manual_seed(1)
    x, weight = torch.randn(1, shape[1], *size, generator=g), torch.randn(*shape, generator=g)
    mask = random_mask(weight.shape, (8, 8), density, g)
    bias = torch.randn(shape[0], generator=g)
    padding = tuple(k // 2 for k in shape[2:])
    got = kgs_conv3d(x, *pack_kgs_conv3d_weight(weight, mask, 8), bias, shape[0], shape[2:],
                     stride=stride, padding=padding)
    want = F.conv3d(x.double(), (weight * mask).double(), bias.double(), stride, padding)
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4)


@requires_extension
def test_rejects_bad_arguments():
    x = torch.randn(1, 4, 3, 5, 5)
    weight, mask = torch.randn(6, 4, 3, 3, 3), torch.ones(6, 4, 3, 3, 3, dtype=torch.bool)
    values, block_ptr, columns = pack_kgs_conv3d_weight(weight, mask, 4)
    op = torch.ops.mmeff.kgs_conv3d
    geometry = ([3, 3, 3], [1, 1, 1], [0, 0, 0], [1, 1, 1])
    cases = [
        ((x[0], values, block_ptr, columns, None, 6), 'x must be'),
        ((x, values.double(), block_ptr, columns, None, 6), 'values must be Double like x|'
         'values must be Float like x'),
        ((x, values, block_ptr, columns, None, 9), r'block_ptr must have shape \(4,\)'),
        ((x, values, block_ptr, columns[:-1], None, 6), 'columns must have shape'),
        ((x, values, block_ptr.int(), columns, None, 6), 'block_ptr and columns must be int64'),
        ((x, values, block_ptr, columns + 200, None, 6), r'columns must lie in \[0, 108\)'),
        ((x, values, block_ptr.flip(0), columns, None, 6), 'block_ptr must run from 0'),
        ((x, values, block_ptr, columns, torch.randn(5), 6), r'bias must have shape \(6,\)'),
        ((x, values, block_ptr, columns, None, 0), 'out_channels must be >= 1'),
    ]
    for args, message in cases:
        with pytest.raises(RuntimeError, match=f'kgs_conv3d: ({message})'):
            op(*args, *geometry)
    with pytest.raises(RuntimeError, match='smaller than the'):
        op(x, values, block_ptr, columns, None, 6, [5, 3, 3], [1, 1, 1], [0, 0, 0], [1, 1, 1])
    with pytest.raises(RuntimeError, match='stride must be >= 1'):
        op(x, values, block_ptr, columns, None, 6, [3, 3, 3], [1, 0, 1], [0, 0, 0], [1, 1, 1])
    for kwargs, message in ((dict(stride=(1, 2)), 'stride must be an int or three ints'),
                            (dict(padding=-1), 'padding must be >= 0'),
                            (dict(dilation=True), 'dilation must be an int or three')):
        with pytest.raises(ValueError, match=f'kgs_conv3d: {message}'):
            kgs_conv3d(x, values, block_ptr, columns, None, 6, 3, **kwargs)
    with pytest.raises(ValueError, match='out_channels must be an int >= 1'):
        kgs_conv3d(x, values, block_ptr, columns, None, 6.0, 3)
    with pytest.raises(ValueError, match='group_rows must be an int >= 1'):
        pack_kgs_conv3d_weight(weight, mask, 0)
    with pytest.raises(ValueError, match='bool mask of its shape'):
        pack_kgs_conv3d_weight(weight, mask.float(), 4)


@requires_extension
def test_opcheck():
    g = torch.Generator().manual_seed(2)
    x, weight = torch.randn(2, 5, 4, 6, 7, generator=g), torch.randn(9, 5, 3, 1, 3, generator=g)
    packed = pack_kgs_conv3d_weight(weight, random_mask(weight.shape, (4, 2), 0.5, g), 4)
    torch.library.opcheck(
        torch.ops.mmeff.kgs_conv3d.default,
        (x, *packed, torch.randn(9), 9, [3, 1, 3], [1, 2, 1], [1, 0, 2], [1, 1, 1]))


def test_gradients_take_the_reference_path():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 4, 3, 5, 5, generator=g, requires_grad=True)
    weight = torch.randn(6, 4, 3, 3, 3, generator=g)
    values, block_ptr, columns = pack_kgs_conv3d_weight(weight,
                                                        random_mask(weight.shape, (2, 2), 0.5, g),
                                                        2)
    values.requires_grad_(True)
    kgs_conv3d(x, values, block_ptr, columns, None, 6, 3, padding=1).square().sum().backward()
    grads = (x.grad.clone(), values.grad.clone())
    x.grad, values.grad = None, None
    kgs_conv3d_reference(x, values, block_ptr, columns, None, 6, 3,
                         padding=1).square().sum().backward()
    torch.testing.assert_close(grads, (x.grad, values.grad))


def test_fallback_without_extension_warns_once_and_is_correct(monkeypatch):
    g = torch.Generator().manual_seed(4)
    x, weight = torch.randn(1, 4, 3, 6, 6, generator=g), torch.randn(5, 4, 3, 3, 3, generator=g)
    mask = random_mask(weight.shape, (4, 4), 0.5, g)
    packed = pack_kgs_conv3d_weight(weight, mask, 4)
    assert_fallback_warns_once(
        monkeypatch, 'kgs_conv3d',
        lambda: kgs_module.kgs_conv3d(x, *packed, None, 5, 3, stride=2, padding=1),
        lambda: F.conv3d(x, weight * mask, None, 2, 1))


@requires_extension
@requires_cuda
@pytest.mark.parametrize('double', [False, True])
def test_cuda_kernel_matches_the_cpu_kernel(double):
    dtype = torch.float64 if double else torch.float32
    g = torch.Generator().manual_seed(5)
    x, weight = torch.randn(2, 12, 5, 9, 9, generator=g), torch.randn(20, 12, 3, 3, 3, generator=g)
    x, weight = x.to(dtype), weight.to(dtype)
    packed = pack_kgs_conv3d_weight(weight, random_mask(weight.shape, (8, 4), 0.4, g), 8)
    bias = torch.randn(20, generator=g, dtype=dtype)
    geometry = ((3, 3, 3), (1, 2, 2), (1, 1, 1), (1, 1, 1))
    got = call_kernel(x, packed, bias, 20, *geometry, device='cuda').cpu()
    want = call_kernel(x, packed, bias, 20, *geometry)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
