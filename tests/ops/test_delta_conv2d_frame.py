"""delta_conv2d_frame: the value-gated SkipConv frame update against its pure-PyTorch reference."""
import importlib

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mmeff.ops import (delta_conv2d_frame, delta_conv2d_frame_reference, fired_value_macs,
                       has_extension, pack_delta_conv2d_weight)
from mmeff.ops.errors import NonFiniteError
from tests.helpers import assert_fallback_warns_once, requires_cuda

pytestmark = pytest.mark.skipif(not has_extension(), reason='the compiled extension is not built')


def conv_case(seed, n, c_in, c_out, h, w, k, stride, pad, dilation, groups, dtype, share,
              layout='NCHW'):
    """(frame, reference, cached output, weight, conv arguments): the frame differs from the
    reference in about ``share`` of the values, by changes of many sizes. ``layout``: memory
    format of frame and reference ('NCHW', 'NHWC') or 'mixed' (NHWC frame, NCHW output)."""
    g = torch.Generator().manual_seed(seed)
    reference = torch.randn(n, c_in, h, w, generator=g).to(dtype)
    changed = torch.rand(reference.shape, generator=g) < share
    scale = torch.rand(reference.shape, generator=g) * 4
    current = reference + (changed * scale * torch.randn(reference.shape, generator=g)).to(dtype)
    weight = torch.randn(c_out, c_in // groups, *k, generator=g).to(dtype)
    conv = dict(stride=stride, padding=pad, dilation=dilation, groups=groups)
    output = torch.randn(F.conv2d(current, weight, None, **conv).shape, generator=g).to(dtype)
    if layout != 'NCHW':
        current, reference = (t.contiguous(memory_format=torch.channels_last)
                              for t in (current, reference))
    if layout == 'NHWC':
        output = output.contiguous(memory_format=torch.channels_last)
    return current, reference, output, weight, conv


def run(fn, case, threshold, dense_above):
    current, reference, output, weight, conv = case
    reference, output = reference.clone(), output.clone()
    if fn.__name__.endswith('_reference'):  # the references take no packed weight
        executed = fn(current, reference, output, weight, threshold, **conv)
    else:
        executed = fn(current, reference, output, weight,
                      pack_delta_conv2d_weight(weight, conv['groups']), threshold,
                      dense_above=dense_above, **conv)
    return executed, reference, output


def dense_macs(case):
    current, _, output, weight, _ = case
    return output.shape[0] * output.shape[2] * output.shape[3] * weight.numel()


def assert_same_update(got, want, dtype, case, threshold, dense_above):
    current, reference, _, _, _ = case
    fired_share = ((current - reference).abs() > threshold).float().mean().item()
    # executed MACs: the sparse count, or the dense count where the dense path ran
    assert got[0] in (want[0],
                      dense_macs(case)) if fired_share >= dense_above else got[0] == want[0]
    assert torch.equal(got[1], want[1])
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(got[2], want[2], **tol)


#: hypothesis strategies of drawn_case's parameters
CASES = dict(seed=st.integers(0, 10**6), n=st.integers(1, 2), c_in=st.sampled_from([1, 2, 4, 6]),
             c_out=st.sampled_from([1, 4, 24, 32, 48, 64, 112]), h=st.integers(3, 19),
             w=st.integers(3, 19), k=st.sampled_from([(1, 1), (3, 3), (1, 3),
                                                      (5, 5)]), stride=st.sampled_from([(1, 1),
                                                                                        (2, 2),
                                                                                        (1, 2)]),
             pad=st.integers(0, 2), dilation=st.sampled_from([(1, 1), (2, 2)]),
             groups=st.sampled_from(['one', 'two',
                                     'dw']), dtype=st.sampled_from([torch.float32, torch.float64]),
             share=st.sampled_from([0.0, 0.05, 0.3,
                                    1.0]), layout=st.sampled_from(['NCHW', 'NHWC', 'mixed']))


def drawn_case(seed, n, c_in, c_out, h, w, k, stride, pad, dilation, groups, dtype, share, layout):
    """conv_case of drawn parameters (groups: 'one', 'two' or 'dw'), or None where they do not
    make a conv (a kernel larger than the padded frame, two groups of an odd channel count)."""
    span = [(k[i] - 1) * dilation[i] + 1 for i in range(2)]
    if h + 2 * pad < span[0] or w + 2 * pad < span[1] or (groups == 'two' and c_in % 2):
        return None
    groups, c_out = dict(one=(1, c_out), two=(2, 2 * c_out), dw=(c_in, c_in))[groups]
    return conv_case(seed, n, c_in, c_out, h, w, k, stride, (pad, pad), dilation, groups, dtype,
                     share, layout)


@settings(max_examples=150, deadline=None)
@given(threshold=st.sampled_from([0, 0.5, 2]), dense_above=st.sampled_from([0.3, 1.0]), **CASES)
def test_matches_reference(threshold, dense_above, **params):
    case = drawn_case(**params)
    if case is None:
        return
    assert_same_update(run(delta_conv2d_frame, case, threshold, dense_above),
                       run(delta_conv2d_frame_reference, case, threshold, dense_above),
                       params['dtype'], case, threshold, dense_above)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('pad, dilation', [(1, (1, 1)), (0, (1, 1)), (2, (2, 2)), (1, (2, 1))])
@pytest.mark.parametrize('c_out', [8, 16, 32, 64])
@pytest.mark.parametrize('share', [0.02, 0.2])
def test_stride_one_3x3_convs_on_tall_frames_match_the_reference(dtype, pad, dilation, c_out,
                                                                 share):
    """channels_last stride-1 3x3 convs, the scatter form's case (1 or 2 vectors of output
    channels) and the gather form's next to it, on frames of many row bands, two images,
    changes clustered in rows (some bands work much more than others)."""
    case = conv_case(7, 2, 8, c_out, 37, 11, (3, 3), (1, 1), (pad, pad), dilation, 1, dtype, share,
                     'NHWC')
    current = case[0].clone()
    current[:, :, 10:20] += 1.0
    case = (current.contiguous(memory_format=torch.channels_last), ) + case[1:]
    assert_same_update(run(delta_conv2d_frame, case, 0.5, 1.0),
                       run(delta_conv2d_frame_reference, case, 0.5, 1.0), dtype, case, 0.5, 1.0)


@pytest.mark.parametrize('layout', ['NCHW', 'NHWC'])
def test_layers_of_different_sizes_in_turn_match_the_reference(layout):
    """The fired lists live in scratch reused from call to call: a large layer (many pixel
    chunks, two images), a small one, then the large one again, each as the reference."""
    large = conv_case(3, 2, 24, 32, 41, 30, (3, 3), (1, 1), (1, 1), (1, 1), 1, torch.float32, 0.3,
                      layout)
    small = conv_case(4, 1, 4, 16, 5, 7, (1, 1), (1, 1), (0, 0), (1, 1), 1, torch.float32, 0.6,
                      layout)
    for case in (large, small, large):
        assert_same_update(run(delta_conv2d_frame, case, 0.5, 1.0),
                           run(delta_conv2d_frame_reference, case, 0.5, 1.0), torch.float32, case,
                           0.5, 1.0)


@pytest.mark.parametrize('k, stride, pad, groups', [((3, 3), (1, 1), (1, 1), 1),
                                                    ((1, 1), (1, 1), (0, 0), 1),
                                                    ((3, 3), (2, 2), (1, 1), 1),
                                                    ((3, 3), (1, 1), (1, 1), 16)])
@pytest.mark.parametrize('share', [0.0, 0.01, 0.2, 1.0])
def test_threshold_zero_gives_the_dense_conv_of_the_frame(k, stride, pad, groups, share):
    """output == conv(reference) + bias; at threshold 0 every changed value fires, so after
    the update it is the dense conv of the current frame."""
    c = 16
    g = torch.Generator().manual_seed(0)
    previous = torch.randn(1, c, 40, 36, generator=g)
    current = previous + torch.randn(previous.shape, generator=g) * (torch.rand(
        previous.shape, generator=g) < share)
    weight = torch.randn(c, c // groups, *k, generator=g)
    bias = torch.randn(c, generator=g)
    conv = dict(stride=stride, padding=pad, dilation=(1, 1), groups=groups)
    reference, output = previous.clone(), F.conv2d(previous, weight, bias, **conv)
    executed = delta_conv2d_frame(current, reference, output, weight,
                                  pack_delta_conv2d_weight(weight, groups), 0.0, dense_above=0.6,
                                  **conv)
    torch.testing.assert_close(output, F.conv2d(current, weight, bias, **conv), rtol=1e-5,
                               atol=1e-4)
    assert torch.equal(reference, current)
    assert (executed == 0) == (share == 0.0)


def test_reference_stays_within_the_threshold_and_the_output_follows_it():
    """Over a random walk of 200 frames: every value of the reference stays within the
    threshold of the frame, and the output stays the conv of the reference (rounding only)."""
    g = torch.Generator().manual_seed(3)
    frame = torch.randn(1, 8, 24, 20, generator=g)
    weight = torch.randn(12, 8, 3, 3, generator=g)
    conv = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)
    reference, output = frame.clone(), F.conv2d(frame, weight, None, **conv)
    packed = pack_delta_conv2d_weight(weight, 1)
    for _ in range(200):
        frame = frame + 0.05 * torch.randn(frame.shape, generator=g)
        delta_conv2d_frame(frame, reference, output, weight, packed, 0.2, dense_above=0.5, **conv)
        assert (reference - frame).abs().max() <= 0.2
    torch.testing.assert_close(output, F.conv2d(reference, weight, None, **conv), rtol=1e-4,
                               atol=1e-4)


def test_executed_macs_count_fired_values_per_output_position():
    """One fired value in the middle of a 3x3 conv reaches 9 output positions; at a corner 4."""
    reference = torch.zeros(1, 2, 8, 8)
    weight = torch.ones(5, 2, 3, 3)
    conv = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)
    for pixel, positions in (((4, 4), 9), ((0, 0), 4)):
        fired = torch.zeros(1, 2, 8, 8, dtype=torch.bool)
        fired[0, 1, pixel[0], pixel[1]] = True
        assert fired_value_macs(fired, weight, **conv) == positions * 5
        current = reference + fired
        output = torch.zeros(1, 5, 8, 8)
        assert delta_conv2d_frame(current, reference.clone(), output, weight,
                                  pack_delta_conv2d_weight(weight, 1), 0.5, dense_above=1.0,
                                  **conv) == positions * 5


@pytest.mark.parametrize('bad_value', [float('nan'), float('inf')])
def test_non_finite_input_is_rejected_and_nothing_changes(bad_value):
    current, reference, output, weight, conv = conv_case(1, 1, 4, 4, 16, 16, (3, 3), (1, 1), (1, 1),
                                                         (1, 1), 1, torch.float32, 0.5)
    current[0, 3, 15, 15] = bad_value
    for fn in (delta_conv2d_frame, delta_conv2d_frame_reference):
        before = reference.clone(), output.clone()
        with pytest.raises(NonFiniteError, match='NaN or Inf'):  # on the state itself, no copies
            if fn is delta_conv2d_frame_reference:
                fn(current, reference, output, weight, 0.0, **conv)
            else:
                fn(current, reference, output, weight, pack_delta_conv2d_weight(weight, 1), 0.0,
                   dense_above=0.6, **conv)
        assert torch.equal(reference, before[0]) and torch.equal(output, before[1])


@pytest.mark.parametrize('bad, message', [
    (dict(output=torch.zeros(1, 4, 15, 16)), "output must be contiguous or channels_last"),
    (dict(output=torch.zeros(1, 4, 16, 16, dtype=torch.float64)), 'output must be Float'),
    (dict(weight=torch.zeros(4, 4, 3)), 'weight must be 4-D'),
    (dict(weight=torch.zeros(4, 3, 3, 3)), 'do not fit the 4 channels of x'),
    (dict(packed=torch.zeros(3, 3, 4, 5)), 'packed_weight must be contiguous'),
    (dict(reference=torch.zeros(1, 4, 16, 15)), "reference must have x's shape"),
])
def test_bad_arguments_are_named_and_nothing_changes(bad, message):
    current, reference, output, weight, conv = conv_case(2, 1, 4, 4, 16, 16, (3, 3), (1, 1), (1, 1),
                                                         (1, 1), 1, torch.float32, 1.0)
    args = dict(reference=reference, output=output, weight=weight,
                packed=pack_delta_conv2d_weight(weight, 1), threshold=0.0, dense_above=0.6)
    args.update(bad)
    before = reference.clone(), output.clone()
    with pytest.raises(RuntimeError, match=message):
        torch.ops.mmeff.delta_conv2d_frame(current, args['reference'], args['output'],
                                           args['weight'], args['packed'], args['threshold'],
                                           conv['stride'], conv['padding'], conv['dilation'],
                                           conv['groups'], args['dense_above'])
    assert torch.equal(reference, before[0]) and torch.equal(output, before[1])


@pytest.mark.parametrize('bad, message', [
    (dict(threshold=-1.0), 'delta_conv2d_frame: threshold must be >= 0'),
    (dict(dense_above=1.5), r'delta_conv2d_frame: dense_above must be in \(0, 1\]'),
])
def test_the_wrapper_checks_the_scalars_and_nothing_changes(bad, message):
    current, reference, output, weight, conv = conv_case(2, 1, 4, 4, 16, 16, (3, 3), (1, 1), (1, 1),
                                                         (1, 1), 1, torch.float32, 1.0)
    before = reference.clone(), output.clone()
    with pytest.raises(ValueError, match=message):
        delta_conv2d_frame(current, reference, output, weight, pack_delta_conv2d_weight(weight, 1),
                           bad.get('threshold', 0.0), dense_above=bad.get('dense_above', 0.6),
                           **conv)
    assert torch.equal(reference, before[0]) and torch.equal(output, before[1])


@pytest.mark.parametrize('share', [0.0, 0.1, 1.0])
def test_opcheck(share):
    current, reference, output, weight, conv = conv_case(3, 2, 4, 8, 20, 18, (3, 3), (1, 1), (1, 1),
                                                         (1, 1), 1, torch.float32, share)
    torch.library.opcheck(
        torch.ops.mmeff.delta_conv2d_frame.default,
        (current, reference, output, weight, pack_delta_conv2d_weight(weight, 1), 0.5, (1, 1),
         (1, 1), (1, 1), 1, 0.6), test_utils=('test_schema', 'test_faketensor'))


def test_fallback_warns_once_and_matches(monkeypatch):
    module = importlib.import_module('mmeff.ops.delta_conv2d_frame')
    case = conv_case(4, 1, 4, 4, 16, 16, (3, 3), (1, 1), (1, 1), (1, 1), 1, torch.float64, 0.2)
    want = run(delta_conv2d_frame_reference, case, 0.5, 0.6)

    def call():
        current, reference, output, weight, conv = case
        reference, output = reference.clone(), output.clone()
        executed = module.delta_conv2d_frame(current, reference, output, weight,
                                             pack_delta_conv2d_weight(weight, 1), 0.5,
                                             dense_above=0.6, **conv)
        assert executed == want[0]
        return reference, output

    assert_fallback_warns_once(monkeypatch, 'delta_conv2d_frame', call, lambda: (want[1], want[2]))


@requires_cuda
@pytest.mark.parametrize('share', [0.05, 1.0])
def test_cuda_matches_the_reference(share):
    case = conv_case(5, 2, 8, 8, 33, 27, (3, 3), (2, 2), (1, 1), (1, 1), 1, torch.float32, share)
    want = run(delta_conv2d_frame_reference, case, 0.5, 0.6)
    cuda_case = tuple(t.cuda() if isinstance(t, torch.Tensor) else t for t in case)
    got = run(delta_conv2d_frame, cuda_case, 0.5, 0.6)
    assert_same_update((got[0], got[1].cpu(), got[2].cpu()), want, torch.float32, case, 0.5, 0.6)


@pytest.mark.parametrize('alias', ['reference', 'output'])
def test_state_sharing_memory_with_the_input_is_refused(alias):
    x = torch.randn(1, 4, 8, 8)
    weight = torch.randn(4, 4, 3, 3)
    reference = x if alias == 'reference' else x.clone()
    output = x if alias == 'output' else F.conv2d(reference, weight, padding=1)
    before = x.clone()
    with pytest.raises(RuntimeError, match=f'{alias} shares memory with x'):
        torch.ops.mmeff.delta_conv2d_frame(x, reference, output, weight,
                                           pack_delta_conv2d_weight(weight, 1), 0.0, [1, 1], [1, 1],
                                           [1, 1], 1, 1.0)
    assert torch.equal(x, before)
