"""movinet_block_frame: the compiled CPU kernel against its plain-PyTorch reference."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmeff.ops import (BlockFrameWeights, has_extension, movinet_block_frame,
                       movinet_block_frame_reference)
from tests.helpers import assert_fallback_warns_once

requires_extension = pytest.mark.skipif(not has_extension(), reason='mmeff.ops._ext is not built')


def random_case(seed, n=1, in_channels=4, channels=6, out_channels=5, hidden=3, size=(7, 6),
                kernel=3, stride=1, temporal_taps=3, activation='hswish', se_activation='hswish',
                gate='hardsigmoid', shortcut_conv=True, biases=True, first_frame=False,
                five_d=False, dtype=torch.float64):
    """(x, weights, past, pooled_sum, frames_seen) of one call."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0):
        return torch.randn(*shape, generator=g, dtype=dtype) * scale

    def bias(length):
        return rand(length) if biases else None

    out_size = [(length + 2 * (kernel // 2) - kernel) // stride + 1 for length in size]
    frame_shape = (n, channels, 1, *out_size) if five_d else (n, channels, *out_size)
    weights = BlockFrameWeights(rand(channels, in_channels, scale=0.7), bias(channels),
                                rand(channels, 1, kernel, kernel, scale=0.5), bias(channels),
                                (stride, stride), (kernel // 2, kernel // 2),
                                rand(channels, temporal_taps) if temporal_taps else None,
                                bias(channels) if temporal_taps else None, activation,
                                rand(hidden, 2 * channels), bias(hidden), rand(channels, hidden),
                                bias(channels), se_activation, gate, rand(out_channels, channels),
                                bias(out_channels), 0.75, stride == 2,
                                rand(out_channels, in_channels) if shortcut_conv else None,
                                bias(out_channels) if shortcut_conv else None)
    past = [rand(*frame_shape) for _ in range(max(temporal_taps - 1, 0))]
    pooled_sum = None if first_frame else rand(n, channels)
    return rand(n, in_channels, *size, scale=2.0), weights, past, pooled_sum, \
        0 if first_frame else 4


def as_double(case):
    x, weights, past, pooled_sum, frames_seen = case
    weights = BlockFrameWeights(
        *[t.double() if isinstance(t, torch.Tensor) else t for t in weights])
    return (x.double(), weights, [f.double() for f in past],
            None if pooled_sum is None else pooled_sum.double(), frames_seen)


def assert_matches_reference(case, tol):
    got = movinet_block_frame(*case)
    expected = movinet_block_frame_reference(*as_double(case))
    assert got[0].dtype == case[0].dtype and got[0].is_contiguous()
    for g, e in zip(got, expected):
        assert (g is None) == (e is None)
        if g is not None:
            torch.testing.assert_close(g.double(), e, **tol)


@requires_extension
@settings(max_examples=120, deadline=None)
@given(n=st.integers(1, 2), in_channels=st.integers(1, 6), channels=st.integers(1, 12),
       hidden=st.integers(1, 5), h=st.integers(1, 11), w=st.integers(1, 11),
       kernel=st.sampled_from([1, 3, 5]), stride=st.integers(1, 2), temporal_taps=st.integers(0, 5),
       activation=st.sampled_from(['identity', 'relu', 'hswish']),
       se_activation=st.sampled_from(['identity', 'relu',
                                      'hswish']), gate=st.sampled_from(['hardsigmoid', 'sigmoid']),
       shortcut_conv=st.booleans(), biases=st.booleans(), first_frame=st.booleans(),
       five_d=st.booleans(), double=st.booleans(), seed=st.integers(0, 2**16))
def test_kernel_matches_the_reference(n, in_channels, channels, hidden, h, w, kernel, stride,
                                      temporal_taps, activation, se_activation, gate, shortcut_conv,
                                      biases, first_frame, five_d, double, seed):
    if min(h, w) + 2 * (kernel // 2) < kernel:
        return  # no output: covered by test_rejects_bad_arguments
    out_channels = in_channels if not shortcut_conv else in_channels + 1
    dtype = torch.float64 if double else torch.float32
    case = random_case(seed, n, in_channels, channels, out_channels, hidden, (h, w), kernel, stride,
                       temporal_taps, activation, se_activation, gate, shortcut_conv, biases,
                       first_frame, five_d, dtype)
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    assert_matches_reference(case, tol)


@requires_extension
@pytest.mark.parametrize('cin, e, cout, k, s, size, taps', [(8, 24, 8, 5, 2, 86, 0),
                                                            (8, 80, 32, 3, 2, 43, 3),
                                                            (32, 80, 32, 3, 1, 22, 3),
                                                            (56, 184, 56, 3, 1, 11, 3),
                                                            (56, 384, 104, 3, 2, 11, 5),
                                                            (104, 344, 104, 5, 1, 6, 0)])
def test_kernel_on_movinet_a0_blocks(cin, e, cout, k, s, size, taps):
    """Float32 on A0's block shapes (2 threads: the passes split channels)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        case = random_case(0, 1, cin, e, cout, max(8, e // 4), (size, size), k, s, taps,
                           shortcut_conv=cin != cout, five_d=True, dtype=torch.float32)
        assert_matches_reference(case, dict(rtol=1e-4, atol=1e-3))
    finally:
        torch.set_num_threads(threads)


def call(case, **changes):
    x, weights, past, pooled_sum, frames_seen = case
    return torch.ops.mmeff.movinet_block_frame(
        *_op_args(changes.get('x', x), weights._replace(
            **changes.get('weights', {})), changes.get('past', past),
                  changes.get('pooled_sum', pooled_sum), changes.get('frames_seen', frames_seen)))


def _op_args(x, w, past, pooled_sum, frames_seen):
    return (x, w.expand_weight, w.expand_bias, w.spatial_weight, w.spatial_bias, w.stride,
            w.padding, list(past), w.temporal_weight, w.temporal_bias, w.activation, pooled_sum,
            frames_seen, w.reduce_weight, w.reduce_bias, w.excite_weight, w.excite_bias,
            w.se_activation, w.gate, w.project_weight, w.project_bias, float(w.rezero),
            w.shortcut_pool, w.shortcut_weight, w.shortcut_bias)


@requires_extension
def test_rejects_bad_arguments():
    case = random_case(1, dtype=torch.float32)
    x, weights, past, pooled_sum, _ = case
    with pytest.raises(RuntimeError, match='expected k_t - 1 = 2 past frames, got 1'):
        call(case, past=past[:1])
    with pytest.raises(RuntimeError, match='past frame 0 must have shape'):
        call(case, past=[past[0][:, :, :3], past[1]])
    with pytest.raises(RuntimeError, match='past frame 1 must be Float'):
        call(case, past=[past[0], past[1].double()])
    with pytest.raises(RuntimeError, match=r'temporal_weight must have shape \(E, k_t\)'):
        call(case, weights=dict(temporal_weight=torch.randn(6, 3, 1)))
    with pytest.raises(RuntimeError, match='need a temporal_weight'):
        call(case, weights=dict(temporal_weight=None))
    with pytest.raises(RuntimeError, match=r'spatial_weight must have shape \(C, 1, kh, kw\)'):
        call(case, weights=dict(spatial_weight=torch.randn(6, 2, 3, 3)))
    with pytest.raises(RuntimeError, match=r'expand_weight must have shape \(6, 4\)'):
        call(case, weights=dict(expand_weight=torch.randn(6, 3)))
    with pytest.raises(RuntimeError, match=r'reduce_weight must have shape \(3, 12\)'):
        call(case, weights=dict(reduce_weight=torch.randn(3, 6)))
    with pytest.raises(RuntimeError, match='project_bias must be Float'):
        call(case, weights=dict(project_bias=torch.randn(5).double()))
    with pytest.raises(RuntimeError, match="activation must be 'identity', 'relu' or 'hswish'"):
        call(case, weights=dict(activation='gelu'))
    with pytest.raises(RuntimeError, match="gate must be 'hardsigmoid' or 'sigmoid'"):
        call(case, weights=dict(gate='hswish'))
    with pytest.raises(ValueError, match='frames_seen must be 0 for a new stream'):
        movinet_block_frame(x, weights, past, pooled_sum, 0)
    with pytest.raises(RuntimeError, match='an identity shortcut needs C_in == C_out'):
        call(case, weights=dict(shortcut_weight=None, shortcut_bias=None))
    with pytest.raises(RuntimeError, match="shortcut's frame size"):
        call(case, weights=dict(shortcut_pool=True))
    with pytest.raises(RuntimeError, match='smaller than the spatial kernel'):
        call(case, x=x[:, :, :1, :1], weights=dict(padding=(0, 0)))
    with pytest.raises(ValueError, match='activations must be in'):
        movinet_block_frame(x, weights._replace(se_activation='gelu'), past, pooled_sum, 4)


@requires_extension
def test_opcheck():
    for case in (random_case(2, dtype=torch.float32),
                 random_case(3, stride=2, temporal_taps=0, shortcut_conv=False, out_channels=4,
                             biases=False, first_frame=True, dtype=torch.float32)):
        torch.library.opcheck(torch.ops.mmeff.movinet_block_frame.default, _op_args(*case))


def test_gradients_take_the_reference_path():
    x, weights, past, pooled_sum, frames_seen = random_case(4)
    x.requires_grad_()
    weights.project_weight.requires_grad_()
    movinet_block_frame(x, weights, past, pooled_sum, frames_seen)[0].square().sum().backward()
    grads = [x.grad.clone(), weights.project_weight.grad.clone()]
    x.grad = weights.project_weight.grad = None
    movinet_block_frame_reference(x, weights, past, pooled_sum,
                                  frames_seen)[0].square().sum().backward()
    torch.testing.assert_close(grads, [x.grad, weights.project_weight.grad])


def test_fallback_without_extension_warns_once_and_is_correct(monkeypatch):
    case = random_case(5, stride=2)
    assert_fallback_warns_once(monkeypatch, 'movinet_block_frame',
                               lambda: movinet_block_frame(*case),
                               lambda: movinet_block_frame_reference(*case))
