"""The logged frame ops (skip_conv2d_frame_logged, delta_conv2d_frame_logged): the same update as
the unlogged ops, bit for bit, and an undo record that takes the call back bit for bit and holds
only what the call overwrote; compiled kernels against the references."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmeff.ops import (delta_conv2d_frame, delta_conv2d_frame_logged,
                       delta_conv2d_frame_logged_reference, delta_conv2d_frame_reference,
                       has_extension, pack_delta_conv2d_weight, skip_conv2d_frame,
                       skip_conv2d_frame_logged, skip_conv2d_frame_logged_reference,
                       skip_conv2d_frame_reference)
from mmeff.ops.errors import NonFiniteError
from tests.helpers import requires_cuda
from tests.ops import test_delta_conv2d_frame as delta_cases
from tests.ops import test_skip_conv2d_frame as skip_cases

pytestmark = pytest.mark.skipif(not has_extension(), reason='the compiled extension is not built')

# (unlogged, logged) pairs: the compiled path and the reference path of each op
SKIP_PATHS = [(skip_conv2d_frame, skip_conv2d_frame_logged),
              (skip_conv2d_frame_reference, skip_conv2d_frame_logged_reference)]
DELTA_PATHS = [(delta_conv2d_frame, delta_conv2d_frame_logged),
               (delta_conv2d_frame_reference, delta_conv2d_frame_logged_reference)]

run_skip, run_delta = skip_cases.run, delta_cases.run


def assert_logged_matches_and_restores(plain, logged, state_before, output_before):
    """``plain`` and ``logged``: (result, state, output) of the same call without and with the
    log. Same count and state bit for bit; the record takes the call back bit for bit."""
    (count, undo), state, output = logged
    assert count == plain[0]
    assert torch.equal(state, plain[1]) and torch.equal(output, plain[2])
    undo.restore()
    assert torch.equal(state, state_before) and torch.equal(output, output_before)
    return undo


def assert_same_record(got, want):
    for name in ('in_mask', 'old_in', 'out_mask', 'old_out'):
        assert torch.equal(getattr(got, name), getattr(want, name)), name


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 2), c_in=st.sampled_from([1, 2, 4]),
       c_out=st.sampled_from([1, 4]), h=st.integers(3, 17), w=st.integers(3, 17),
       block=st.sampled_from([1, 2, 4, 8]), k=st.sampled_from([(1, 1), (3, 3), (1, 3)]),
       stride=st.sampled_from([(1, 1), (2, 2)]), pad=st.integers(0, 2), dilation=st.sampled_from([
           (1, 1), (2, 2)
       ]), depthwise=st.booleans(), dtype=st.sampled_from([torch.float32, torch.float64]),
       channels_last=st.booleans(), limit=st.sampled_from([0, 3, 20]),
       share=st.sampled_from([0.0, 0.05, 0.3, 1.0]), dense_above=st.sampled_from([0.3, 1.0]))
def test_skip_conv2d_frame_logged(seed, n, c_in, c_out, h, w, block, k, stride, pad, dilation,
                                  depthwise, dtype, channels_last, limit, share, dense_above):
    span = [(k[i] - 1) * dilation[i] + 1 for i in range(2)]
    if h + 2 * pad < span[0] or w + 2 * pad < span[1]:
        return
    groups, c_out = (c_in, c_in) if depthwise else (1, c_out)
    case = skip_cases.conv_case(seed, n, c_in, c_out, h, w, block, k, stride, (pad, pad), dilation,
                                groups, dtype, share, channels_last)
    records = []
    for plain, logged in SKIP_PATHS:
        records.append(
            assert_logged_matches_and_restores(run_skip(plain, case, limit, block, dense_above),
                                               run_skip(logged, case, limit, block, dense_above),
                                               case[1], case[2]))
    assert_same_record(*records)
    fired = records[0].in_mask
    assert records[0].old_in.shape[0] == int(fired.sum())  # only the fired blocks are saved
    assert records[0].old_out.shape == (int(records[0].out_mask.sum()), case[2].shape[1])


@settings(max_examples=80, deadline=None)
@given(threshold=st.sampled_from([0, 0.5, 2]), dense_above=st.sampled_from([0.3, 1.0]),
       **delta_cases.CASES)
def test_delta_conv2d_frame_logged(threshold, dense_above, **params):
    case = delta_cases.drawn_case(**params)
    if case is None:
        return
    records = []
    for plain, logged in DELTA_PATHS:
        records.append(
            assert_logged_matches_and_restores(run_delta(plain, case, threshold, dense_above),
                                               run_delta(logged, case, threshold, dense_above),
                                               case[1], case[2]))
    assert_same_record(*records)
    current, reference = case[0], case[1]
    assert torch.equal(records[0].in_mask, ((current - reference).abs() > threshold).any(1))


def test_the_record_of_a_small_change_is_small():
    """One changed pixel of a 64 x 64 frame: one fired 8 x 8 block (the neighbours' windows
    overlap it too: at most 4 blocks), a few pixels' and positions' values."""
    case = skip_cases.conv_case(0, 1, 8, 8, 64, 64, 8, (3, 3), (1, 1), (1, 1), (1, 1), 1,
                                torch.float32, 0.0)
    current = case[0].clone()
    current[0, :, 20, 20] += 1
    (_, undo), snapshots, output = run_skip(skip_conv2d_frame_logged, (current, *case[1:]), 0.0, 8,
                                            1.0)
    assert 1 <= int(undo.in_mask.sum()) <= 4
    assert undo.nbytes() < (snapshots.numel() + output.numel()) * 4 / 10
    delta = delta_cases.conv_case(0, 1, 8, 8, 64, 64, (3, 3), (1, 1), (1, 1), (1, 1), 1,
                                  torch.float32, 0.0)
    current = delta[1].clone()
    current[0, :, 20, 20] += 1
    (_, undo), _, _ = run_delta(delta_conv2d_frame_logged, (current, *delta[1:]), 0.0, 1.0)
    assert int(undo.in_mask.sum()) == 1 and int(undo.out_mask.sum()) == 9


@pytest.mark.parametrize('compiled', [True, False], ids=['compiled', 'reference'])
def test_a_rejected_frame_changes_nothing(compiled):
    skip_logged = SKIP_PATHS[0 if compiled else 1][1]
    current, snapshots, output, weight, bias, conv = skip_cases.conv_case(
        1, 1, 2, 4, 12, 12, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, torch.float32, 0.3)
    bad = current.clone()
    bad[0, 1, 3, 3] = float('nan')
    state, cached = snapshots.clone(), output.clone()
    with pytest.raises(NonFiniteError):
        skip_logged(bad, state, cached, weight, bias, 0.0, block_size=4, dense_above=1.0, **conv)
    assert torch.equal(state, snapshots) and torch.equal(cached, output)
    current, reference, output, weight, conv = delta_cases.conv_case(1, 1, 2, 4, 12, 12, (3, 3),
                                                                     (1, 1), (1, 1), (1, 1), 1,
                                                                     torch.float32, 0.3)
    bad = current.clone()
    bad[0, 1, 3, 3] = float('inf')
    state, cached = reference.clone(), output.clone()
    with pytest.raises(NonFiniteError):
        if compiled:
            delta_conv2d_frame_logged(bad, state, cached, weight,
                                      pack_delta_conv2d_weight(weight,
                                                               1), 0.0, dense_above=1.0, **conv)
        else:
            delta_conv2d_frame_logged_reference(bad, state, cached, weight, 0.0, **conv)
    assert torch.equal(state, reference) and torch.equal(cached, output)


@pytest.mark.parametrize('share', [0.0, 0.1, 1.0])
def test_opcheck(share):
    current, snapshots, output, weight, bias, conv = skip_cases.conv_case(
        3, 2, 4, 8, 20, 18, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, torch.float32, share)
    torch.library.opcheck(torch.ops.mmeff.skip_conv2d_frame_logged.default,
                          (current, snapshots, output, weight, bias, 2.0, 4, (1, 1), (1, 1),
                           (1, 1), 1, 0.6), test_utils=('test_schema', 'test_faketensor'))
    current, reference, output, weight, conv = delta_cases.conv_case(3, 2, 4, 8, 20, 18, (3, 3),
                                                                     (1, 1), (1, 1), (1, 1), 1,
                                                                     torch.float32, share)
    torch.library.opcheck(
        torch.ops.mmeff.delta_conv2d_frame_logged.default,
        (current, reference, output, weight, pack_delta_conv2d_weight(weight, 1), 0.5, (1, 1),
         (1, 1), (1, 1), 1, 0.6), test_utils=('test_schema', 'test_faketensor'))


def test_meta_tensors_outside_fake_mode_are_refused_with_a_clear_error():
    case = skip_cases.conv_case(1, 1, 2, 4, 12, 12, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1,
                                torch.float32, 0.3)
    meta = [t.to('meta') for t in case[:5]]
    with pytest.raises(RuntimeError, match='skip_conv2d_frame_logged.*data-dependent shape'):
        torch.ops.mmeff.skip_conv2d_frame_logged(*meta, 0.0, 4, (1, 1), (1, 1), (1, 1), 1, 1.0)


@requires_cuda
@pytest.mark.parametrize('paths', [SKIP_PATHS, DELTA_PATHS], ids=['skip', 'delta'])
def test_cuda_runs_the_reference_record(paths):
    """No CUDA kernel logs: the wrapper runs the reference there, with the same record."""
    if paths is SKIP_PATHS:
        case = skip_cases.conv_case(2, 1, 4, 8, 24, 24, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1,
                                    torch.float64, 0.2)
        cuda = tuple(t.cuda() for t in case[:5]) + (case[5], )
        want = run_skip(skip_conv2d_frame_logged, case, 1.0, 4, 1.0)
        got = run_skip(skip_conv2d_frame_logged, cuda, 1.0, 4, 1.0)
    else:
        case = delta_cases.conv_case(2, 1, 4, 8, 24, 24, (3, 3), (1, 1), (1, 1), (1, 1), 1,
                                     torch.float64, 0.2)
        cuda = tuple(t.cuda() for t in case[:4]) + (case[4], )
        want = run_delta(delta_conv2d_frame_logged, case, 0.5, 1.0)
        got = run_delta(delta_conv2d_frame_logged, cuda, 0.5, 1.0)
    assert got[0][0] == want[0][0]
    for name in ('in_mask', 'old_in', 'out_mask', 'old_out'):
        assert torch.equal(getattr(got[0][1], name).cpu(), getattr(want[0][1], name)), name
    got[0][1].restore()
    assert torch.equal(got[1].cpu(), case[1]) and torch.equal(got[2].cpu(), case[2])
