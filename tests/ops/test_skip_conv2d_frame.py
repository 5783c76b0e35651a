"""skip_conv2d_frame: the fused SkipConv frame update against its pure-PyTorch reference."""
import importlib

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mmeff.ops import (block_input_windows, has_extension, skip_conv2d_frame,
                       skip_conv2d_frame_reference)
from mmeff.ops.errors import NonFiniteError
from tests.helpers import assert_fallback_warns_once, requires_cuda
from tests.ops.test_commit_changed_windows import make_case

pytestmark = pytest.mark.skipif(not has_extension(), reason='the compiled extension is not built')


def conv_case(seed, n, c_in, c_out, h, w, block, k, stride, pad, dilation, groups, dtype, share=0.3,
              channels_last=False):
    """(frame, snapshots, cached output, weight, bias, conv arguments) of a layer whose
    previous frame differs from this one in about ``share`` of the pixels."""
    current, snapshots, _ = make_case(seed, n, c_in, h, w, block, k, stride, pad, dilation, dtype,
                                      share, channels_last)
    g = torch.Generator().manual_seed(seed + 1)
    weight = torch.randn(c_out, c_in // groups, *k, generator=g).to(dtype)
    bias = torch.randn(c_out, generator=g).to(dtype)
    conv = dict(stride=stride, padding=pad, dilation=dilation, groups=groups)
    out_shape = F.conv2d(current, weight, bias, **conv).shape
    output = torch.randn(out_shape, generator=g).to(dtype)  # whatever was cached
    return current, snapshots, output, weight, bias, conv


def run(fn, case, limit, block, dense_above):
    current, snapshots, output, weight, bias, conv = case
    snapshots, output = snapshots.clone(), output.clone()
    fired = fn(current, snapshots, output, weight, bias, limit, block_size=block,
               dense_above=dense_above, **conv)
    return fired, snapshots, output


def assert_same_update(got, want, dtype):
    assert got[0] == want[0]
    assert torch.equal(got[1], want[1])
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(got[2], want[2], **tol)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 2), c_in=st.sampled_from([1, 2, 4]),
       c_out=st.sampled_from([1, 4]), h=st.integers(3, 19), w=st.integers(3, 19),
       block=st.sampled_from([1, 2, 4, 8]), k=st.sampled_from([(1, 1), (3, 3), (1, 3)]),
       stride=st.sampled_from([(1, 1), (2, 2)]), pad=st.integers(0, 2), dilation=st.sampled_from([
           (1, 1), (2, 2)
       ]), depthwise=st.booleans(), dtype=st.sampled_from([torch.float32, torch.float64]),
       channels_last=st.booleans(), limit=st.sampled_from([0, 3, 20]),
       share=st.sampled_from([0.0, 0.05, 0.3, 1.0]), dense_above=st.sampled_from([0.3, 0.6, 1.0]))
def test_matches_reference(seed, n, c_in, c_out, h, w, block, k, stride, pad, dilation, depthwise,
                           dtype, channels_last, limit, share, dense_above):
    span = [(k[i] - 1) * dilation[i] + 1 for i in range(2)]
    if h + 2 * pad < span[0] or w + 2 * pad < span[1]:
        return
    groups, c_out = (c_in, c_in) if depthwise else (1, c_out)
    case = conv_case(seed, n, c_in, c_out, h, w, block, k, stride, (pad, pad), dilation, groups,
                     dtype, share, channels_last)
    assert_same_update(run(skip_conv2d_frame, case, limit, block, dense_above),
                       run(skip_conv2d_frame_reference, case, limit, block, dense_above), dtype)


@pytest.mark.parametrize('k, stride, pad, groups', [((3, 3), (1, 1), (1, 1), 1),
                                                    ((1, 1), (1, 1), (0, 0), 1),
                                                    ((3, 3), (2, 2), (1, 1), 1),
                                                    ((3, 3), (1, 1), (1, 1), 16)])
@pytest.mark.parametrize('share', [0.0, 0.01, 0.2, 1.0])
def test_threshold_zero_gives_the_dense_conv_of_the_frame(k, stride, pad, groups, share):
    """The op's invariant: after the update the output is conv(snapshots); at limit 0 every
    changed block fires, so it equals the dense conv of the current frame."""
    c = 16
    g = torch.Generator().manual_seed(0)
    previous = torch.randn(1, c, 40, 36, generator=g)
    current = previous + torch.randn(previous.shape, generator=g) * (torch.rand(
        1, 1, 40, 36, generator=g) < share)
    weight = torch.randn(c, c // groups, *k, generator=g)
    bias = torch.randn(c, generator=g)
    conv = dict(stride=stride, padding=pad, dilation=(1, 1), groups=groups)
    snapshots = block_input_windows(previous, 8, k, stride, pad, (1, 1)).contiguous()
    output = F.conv2d(previous, weight, bias, **conv)
    fired = skip_conv2d_frame(current, snapshots, output, weight, bias, 0.0, block_size=8,
                              dense_above=0.6, **conv)
    torch.testing.assert_close(output, F.conv2d(current, weight, bias, **conv), rtol=1e-5,
                               atol=1e-4)
    assert (fired == 0) == (share == 0.0)
    assert torch.equal(snapshots, block_input_windows(current, 8, k, stride, pad, (1, 1)))


@pytest.mark.parametrize('bad_value', [float('nan'), float('inf')])
def test_non_finite_input_is_rejected_and_nothing_changes(bad_value):
    case = conv_case(1, 1, 4, 4, 16, 16, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, torch.float32, 0.5)
    current, snapshots, output = case[0], case[1], case[2]
    current[0, 3, 15, 15] = bad_value
    for fn in (skip_conv2d_frame, skip_conv2d_frame_reference):
        before = snapshots.clone(), output.clone()
        with pytest.raises(NonFiniteError, match='NaN or Inf'):
            fn(current, snapshots, output, case[3], case[4], 0.0, block_size=4, dense_above=0.6,
               **case[5])
        assert torch.equal(snapshots, before[0]) and torch.equal(output, before[1])


@pytest.mark.parametrize('bad, message', [
    (dict(output=torch.zeros(1, 4, 15, 16)), 'skip_conv2d_frame: output must have shape'),
    (dict(output=torch.zeros(1, 4, 16, 16, dtype=torch.float64)), 'output dtype'),
    (dict(weight=torch.zeros(4, 4, 3)), 'weight must be 4-D'),
    (dict(weight=torch.zeros(4, 3, 3, 3)), 'expects 3 input channels'),
    (dict(bias=torch.zeros(5)), 'bias must have shape'),
    (dict(snapshots=torch.zeros(1, 4, 4, 4, 6, 5)), 'snapshots must have shape'),
    (dict(snapshots=torch.zeros(1, 4, 4, 4, 6, 6, dtype=torch.float64)), 'snapshots dtype'),
])
def test_bad_arguments_are_named_and_nothing_changes(bad, message):
    current, snapshots, output, weight, bias, conv = conv_case(2, 1, 4, 4, 16, 16, 4, (3, 3),
                                                               (1, 1), (1, 1), (1, 1), 1,
                                                               torch.float32, 1.0)
    args = dict(snapshots=snapshots, output=output, weight=weight, bias=bias, limit=0.0,
                dense_above=0.6)
    args.update(bad)
    before = snapshots.clone(), output.clone()
    with pytest.raises(RuntimeError, match=message):
        torch.ops.mmeff.skip_conv2d_frame(current, args['snapshots'], args['output'],
                                          args['weight'], args['bias'], args['limit'], 4,
                                          conv['stride'], conv['padding'], conv['dilation'],
                                          conv['groups'], args['dense_above'])
    assert torch.equal(snapshots, before[0]) and torch.equal(output, before[1])


@pytest.mark.parametrize('bad, message', [
    (dict(limit=-1.0), 'skip_conv2d_frame: limit must be >= 0'),
    (dict(dense_above=0.0), r'skip_conv2d_frame: dense_above must be in \(0, 1\]'),
])
def test_the_wrapper_checks_the_scalars_and_nothing_changes(bad, message):
    current, snapshots, output, weight, bias, conv = conv_case(2, 1, 4, 4, 16, 16, 4, (3, 3),
                                                               (1, 1), (1, 1), (1, 1), 1,
                                                               torch.float32, 1.0)
    before = snapshots.clone(), output.clone()
    with pytest.raises(ValueError, match=message):
        skip_conv2d_frame(current, snapshots, output, weight, bias, bad.get('limit', 0.0),
                          block_size=4, dense_above=bad.get('dense_above', 0.6), **conv)
    assert torch.equal(snapshots, before[0]) and torch.equal(output, before[1])


def op_args(share):
    current, snapshots, output, weight, bias, conv = conv_case(3, 2, 4, 8, 20, 18, 4, (3, 3),
                                                               (1, 1), (1, 1), (1, 1), 1,
                                                               torch.float32, share)
    return (current, snapshots, output, weight, bias, 2.0, 4, (1, 1), (1, 1), (1, 1), 1, 0.6)


@pytest.mark.parametrize('share', [0.0, 0.1, 1.0])
def test_opcheck(share):
    current, snapshots, output, weight, bias, conv = conv_case(3, 2, 4, 8, 20, 18, 4, (3, 3),
                                                               (1, 1), (1, 1), (1, 1), 1,
                                                               torch.float32, share)
    torch.library.opcheck(torch.ops.mmeff.skip_conv2d_frame.default,
                          (current, snapshots, output, weight, bias, 2.0, 4, (1, 1), (1, 1),
                           (1, 1), 1, 0.6), test_utils=('test_schema', 'test_faketensor'))


def test_fallback_warns_once_and_matches(monkeypatch):
    module = importlib.import_module('mmeff.ops.skip_conv2d_frame')
    case = conv_case(4, 1, 4, 4, 16, 16, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, torch.float64, 0.2)
    want = run(skip_conv2d_frame_reference, case, 3.0, 4, 0.6)

    def call():
        got = run(module.skip_conv2d_frame, case, 3.0, 4, 0.6)
        assert got[0] == want[0]
        return got[1], got[2]

    assert_fallback_warns_once(monkeypatch, 'skip_conv2d_frame', call, lambda: (want[1], want[2]))


@requires_cuda
@pytest.mark.parametrize('share', [0.05, 1.0])
def test_cuda_matches_the_reference(share):
    case = conv_case(5, 2, 8, 8, 33, 27, 8, (3, 3), (2, 2), (1, 1), (1, 1), 1, torch.float32, share)
    want = run(skip_conv2d_frame_reference, case, 4.0, 8, 0.6)
    cuda_case = tuple(t.cuda() if isinstance(t, torch.Tensor) else t for t in case)
    got = run(skip_conv2d_frame, cuda_case, 4.0, 8, 0.6)
    assert_same_update((got[0], got[1].cpu(), got[2].cpu()), want, torch.float32)


@pytest.mark.skipif(not has_extension(), reason='the compiled extension is not built')
def test_snapshots_sharing_memory_with_the_weight_are_refused():
    """The snapshots are written before the conv reads its weight."""
    x = torch.randn(1, 2, 8, 8)
    shape = block_input_windows(x, 4, 3, 1, 1, 1).shape
    size = shape.numel()
    buffer = torch.zeros(size + 100)
    snapshots = buffer[:size].view(shape)
    weight = buffer[size - 10:size - 10 + 2 * 2 * 9].view(2, 2, 3, 3)  # the snapshots' tail
    with pytest.raises(RuntimeError, match='snapshots shares memory with weight'):
        skip_conv2d_frame(x, snapshots, torch.zeros(1, 2, 8, 8), weight, None, 0.0, block_size=4,
                          stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1, dense_above=1.0)
    assert not buffer.any()
