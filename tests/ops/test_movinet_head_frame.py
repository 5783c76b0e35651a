"""movinet_head_frame: the compiled CPU kernel against its plain-PyTorch reference."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmeff.ops import has_extension, movinet_head_frame, movinet_head_frame_reference
from tests.helpers import assert_fallback_warns_once

requires_extension = pytest.mark.skipif(not has_extension(), reason='mmeff.ops._ext is not built')


def random_case(seed, n=1, channels=5, hidden=7, classes=3, size=(3, 2), activation='hswish',
                biases=True, first_frame=False, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype)

    return (rand(n, channels, *size) * 2, None if first_frame else rand(n, channels),
            0 if first_frame else 3, rand(hidden,
                                          channels), rand(hidden) if biases else None, activation,
            rand(classes, hidden), rand(classes) if biases else None)


def double(case):
    return tuple(t.double() if isinstance(t, torch.Tensor) else t for t in case)


@requires_extension
@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 3), channels=st.integers(1, 40), hidden=st.integers(1, 70),
       classes=st.integers(1, 20), h=st.integers(1, 6), w=st.integers(1, 6),
       activation=st.sampled_from(['identity', 'relu', 'hswish']), biases=st.booleans(),
       first_frame=st.booleans(), double_precision=st.booleans(), seed=st.integers(0, 2**16))
def test_kernel_matches_the_reference(n, channels, hidden, classes, h, w, activation, biases,
                                      first_frame, double_precision, seed):
    dtype = torch.float64 if double_precision else torch.float32
    case = random_case(seed, n, channels, hidden, classes, (h, w), activation, biases, first_frame,
                       dtype)
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    got = movinet_head_frame(*case)
    expected = movinet_head_frame_reference(*double(case))
    assert got[0].dtype == dtype and got[0].shape == (n, classes)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g.double(), e, **tol)


@requires_extension
def test_kernel_on_the_movinet_a0_head():
    """Float32, 2 threads (the rows are split), the A0 head's shapes (480 -> 2048 -> 600)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        case = random_case(0, 1, 480, 2048, 600, (6, 6), dtype=torch.float32)
        got = movinet_head_frame(*case)
        expected = movinet_head_frame_reference(*double(case))
        for g, e in zip(got, expected):
            torch.testing.assert_close(g.double(), e, rtol=1e-4, atol=1e-4)
    finally:
        torch.set_num_threads(threads)


@requires_extension
def test_rejects_bad_arguments():
    op = torch.ops.mmeff.movinet_head_frame
    x, pooled, seen, w1, b1, act, w2, b2 = random_case(1, dtype=torch.float32)
    with pytest.raises(RuntimeError, match=r'hidden_weight must have shape \(outputs, 5\)'):
        op(x, pooled, seen, w1[:, :4], b1, act, w2, b2)
    with pytest.raises(RuntimeError, match=r'fc_bias must have shape \(3,\)'):
        op(x, pooled, seen, w1, b1, act, w2, b2[:2])
    with pytest.raises(RuntimeError, match=r'pooled_sum must have shape \(1, 5\)'):
        op(x, pooled[:, :4], seen, w1, b1, act, w2, b2)
    with pytest.raises(ValueError, match='frames_seen must be 0 for a new stream'):
        movinet_head_frame(x, None, 2, w1, b1, act, w2, b2)
    with pytest.raises(RuntimeError, match='fc_weight must be Float'):
        op(x, pooled, seen, w1, b1, act, w2.double(), b2)
    with pytest.raises(RuntimeError, match="activation must be 'identity', 'relu' or 'hswish'"):
        op(x, pooled, seen, w1, b1, 'gelu', w2, b2)
    with pytest.raises(ValueError, match='activation must be one of'):
        movinet_head_frame(x, pooled, seen, w1, b1, 'gelu', w2, b2)


@requires_extension
def test_opcheck():
    for case in (random_case(2, dtype=torch.float32),
                 random_case(3, n=2, biases=False, first_frame=True, dtype=torch.float32)):
        torch.library.opcheck(torch.ops.mmeff.movinet_head_frame.default, case)


def test_gradients_take_the_reference_path():
    case = list(random_case(4))
    case[3].requires_grad_()
    movinet_head_frame(*case)[0].square().sum().backward()
    grad = case[3].grad.clone()
    case[3].grad = None
    movinet_head_frame_reference(*case)[0].square().sum().backward()
    torch.testing.assert_close(grad, case[3].grad)


def test_fallback_without_extension_warns_once_and_is_correct(monkeypatch):
    case = random_case(5)
    assert_fallback_warns_once(monkeypatch, 'movinet_head_frame', lambda: movinet_head_frame(*case),
                               lambda: movinet_head_frame_reference(*case))
