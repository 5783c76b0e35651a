"""Property-based search over every compiled op's public wrapper, against its reference
(tests/ops/test_op_properties.py runs it in a fresh process, so that a crash fails the test
instead of ending pytest).

Each op has a case builder that draws, with hypothesis: zero-, one- and small-sized dimensions,
the geometry, the memory layout of the input (contiguous, channels_last, or a strided view),
the dtypes (float32, float64, float16, bfloat16, an integer input, or one argument of another
dtype), one argument on the ``meta`` device, and, for an op that writes a buffer, that buffer
aliasing the input. The contract checked for every case:

- a mixed-device case is refused with an error naming the device, and no buffer changes;
- otherwise the op and the reference (run on separate copies) either both refuse, the op with
  a ValueError, TypeError or RuntimeError and no buffer changed, or both return, with equal
  results and equal buffers (to a tolerance per dtype);
- a case with aliased buffers or with arguments of two dtypes may also be refused where the
  reference accepts it (ATen accepts mixed dtypes on empty tensors, for example).

Prints one JSON object: for each op, ``"ok"`` or the failing example and its error.
Arguments: the number of examples per op, then the ops to search (default: all); ``--ops``
prints the list of ops instead.
"""
import functools
import json
import sys
import traceback
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# yapf: disable
from mmeff.ops import (BlockFrameWeights, commit_changed_windows, commit_changed_windows_reference,
                       cond_conv2d, cond_conv2d_reference, delta_conv2d_frame,
                       delta_conv2d_frame_logged, delta_conv2d_frame_logged_reference,
                       delta_conv2d_frame_reference, depthwise_conv2d, depthwise_conv2d_reference,
                       kgs_conv3d, kgs_conv3d_reference, movinet_block_frame,
                       movinet_block_frame_reference, movinet_head_frame,
                       movinet_head_frame_reference, pack_kgs_conv3d_weight, skip_conv2d_frame,
                       skip_conv2d_frame_logged, skip_conv2d_frame_logged_reference,
                       skip_conv2d_frame_reference, sparse_conv2d, sparse_conv2d_reference,
                       sparse_interp2d, sparse_interp2d_reference, stem_conv2d,
                       stem_conv2d_reference)
# yapf: enable
from mmeff.ops.commit_changed_windows import block_input_windows
from mmeff.ops.cond_conv2d import STRATEGIES
from mmeff.ops.delta_conv2d_frame import pack_delta_conv2d_weight

REFUSALS = (ValueError, TypeError, RuntimeError)
SIZES = st.sampled_from([0, 1, 2, 5])
FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
TOLERANCE = {
    torch.float64: 1e-9,
    torch.float32: 1e-4,
    torch.float16: 1e-2,
    torch.bfloat16: 5e-2,
}


@dataclass
class Case:
    """One call: ``run(args)`` for the op and ``reference(args)``; ``buffers`` names the
    arguments the call writes; ``aliased`` pairs of argument names sharing memory; ``meta``
    the argument moved to the meta device (``meta_original`` its CPU value); ``may_refuse``
    whether the op may refuse what the reference accepts."""
    args: Dict[str, object]
    run: Callable[[Dict[str, object]], object]
    reference: Callable[[Dict[str, object]], object]
    buffers: Tuple[str, ...] = ()
    aliased: List[Tuple[str, str]] = field(default_factory=list)
    meta: Optional[str] = None
    may_refuse: bool = False
    meta_original: Optional[torch.Tensor] = None


def tensors_of(value) -> List[object]:
    """The tensors and numbers of a result, flattened (dataclass weights are not results)."""
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors_of(v)]
    return [value]


def assert_same(got, want, dtype: torch.dtype, what: str) -> None:
    for g, w in zip(tensors_of(got), tensors_of(want), strict=True):
        if isinstance(w, torch.Tensor):
            assert isinstance(g, torch.Tensor), f'{what}: {type(g)} for a tensor'
            assert g.shape == w.shape, f'{what}: shape {tuple(g.shape)} != {tuple(w.shape)}'
            tol = TOLERANCE.get(dtype, 0.0)
            torch.testing.assert_close(g, w, rtol=tol, atol=tol, msg=what)
        else:
            assert g == w, f'{what}: {g} != {w}'


def copy_args(args: Dict[str, object]) -> Dict[str, object]:
    """Independent copies for the reference: aliases become separate tensors."""
    return {n: v.clone() if isinstance(v, torch.Tensor) else v for n, v in args.items()}


def snapshot(args: Dict[str, object], names: Tuple[str, ...]) -> List[torch.Tensor]:
    return [args[n].clone() for n in names if args[n].device.type != 'meta']


def accepts(reference: Callable[[Dict[str, object]], object], args: Dict[str, object]) -> bool:
    try:
        reference(args)
    except REFUSALS:
        return False
    return True


def check(case: Case) -> None:
    dtype = next(v.dtype for v in case.args.values() if isinstance(v, torch.Tensor))
    before = snapshot(case.args, case.buffers)
    expected_args = copy_args(case.args)
    if case.meta is not None:
        valid_on_one_device = accepts(case.reference,
                                      dict(expected_args, **{case.meta: case.meta_original}))
        try:
            case.run(case.args)
        except REFUSALS as error:
            assert 'device' in str(error) or 'meta' in str(error) or not valid_on_one_device, (
                f'mixed devices refused without naming them: {error}')
        else:
            raise AssertionError(f'{case.meta} on the meta device was accepted')
        assert_same(snapshot(case.args, case.buffers), before, dtype, 'a buffer after a refusal')
        return
    expected = case.reference(expected_args) if accepts(case.reference, copy_args(
        case.args)) else None
    try:
        got = case.run(case.args)
    except REFUSALS as error:
        if expected is not None and not (case.aliased or case.may_refuse):
            raise AssertionError(f'the op refused what the reference accepts: {error!r}')
        assert_same(snapshot(case.args, case.buffers), before, dtype, 'a buffer after a refusal')
        return
    assert expected is not None, 'the op accepted what the reference refuses'
    assert_same(got, expected, dtype, 'the result')
    for name in case.buffers:
        assert_same(case.args[name], expected_args[name], dtype, f'buffer {name}')


def draw_dtype(draw) -> torch.dtype:
    return draw(st.sampled_from(FLOATS))


def make(draw, shape, dtype, layout='contiguous') -> torch.Tensor:
    """A random tensor of ``shape`` in ``layout``: contiguous, channels_last (4-D) or
    channels_last_3d (5-D), or a view with a stride of 2 in its last dimension."""
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    if layout == 'strided':
        base = torch.randn(*shape[:-1], 2 * shape[-1], generator=g, dtype=torch.float64)
        return base[..., ::2].to(dtype) if dtype.is_floating_point else base[..., ::2].to(dtype)
    t = torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)
    if layout != 'channels_last':
        return t
    return t.contiguous(
        memory_format=torch.channels_last if t.dim() == 4 else torch.channels_last_3d)


def draw_layout(draw) -> str:
    return draw(st.sampled_from(['contiguous', 'channels_last', 'strided']))


def perturb(draw, case: Case, names: Tuple[str, ...]) -> Case:
    """Maybe move one tensor argument to ``meta``, or give it another dtype, or make x an
    integer tensor."""
    fault = draw(st.sampled_from(['none', 'none', 'meta', 'dtype', 'integer']))
    present = [n for n in names if isinstance(case.args.get(n), torch.Tensor)]
    if fault == 'meta':
        case.meta = draw(st.sampled_from(present))
        case.meta_original = case.args[case.meta]
        case.args[case.meta] = case.meta_original.to('meta')
    elif fault == 'dtype':
        name = draw(st.sampled_from(present))
        other = torch.float64 if case.args[name].dtype != torch.float64 else torch.float32
        case.args[name] = case.args[name].to(other)
        case.may_refuse = True  # ATen accepts some mixed dtypes, e.g. on empty tensors
    elif fault == 'integer':
        case.args['x'] = case.args['x'].to(torch.int32)
        case.may_refuse = True
    return case


def draw_geometry(draw):
    """(stride, padding, dilation) pairs."""
    stride, padding, dilation = draw(st.sampled_from([1, 2])), draw(st.sampled_from([0, 1])), draw(
        st.sampled_from([1, 2]))
    return (stride, stride), (padding, padding), (dilation, dilation)


def draw_grouped_conv(draw):
    """(n, c_in, h, w, kernel, groups, c_out, stride, padding, dilation, dtype)."""
    n, c_in, h, w = draw(SIZES), draw(st.integers(1, 3)), draw(SIZES), draw(SIZES)
    kernel = draw(st.sampled_from([1, 3]))
    groups = draw(st.sampled_from([1, c_in]))
    c_out = groups * draw(st.integers(1, 2))
    return (n, c_in, h, w, kernel, groups, c_out, *draw_geometry(draw), draw_dtype(draw))


@st.composite
def sparse_conv2d_case(draw) -> Case:
    n, c_in, h, w, kernel, groups, c_out, stride, padding, dilation, dtype = draw_grouped_conv(draw)
    x = make(draw, (n, c_in, h, w), dtype, draw_layout(draw))
    weight = make(draw, (c_out, c_in // groups, kernel, kernel), dtype)
    bias = make(draw, (c_out, ), dtype) if draw(st.booleans()) else None
    out_hw = [
        max((s + 2 * p - d * (kernel - 1) - 1) // st_ + 1, 0)
        for s, p, d, st_ in zip((h, w), padding, dilation, stride)
    ]
    mask = torch.rand(n, *out_hw, generator=torch.Generator().manual_seed(n + h)) < draw(
        st.sampled_from([0.0, 0.3, 1.0]))
    args = dict(x=x, weight=weight, bias=bias, mask=mask, out=None)
    aliased = []
    use_out = draw(st.sampled_from(['none', 'out', 'alias']))
    if use_out == 'out':
        args['out'] = make(draw, (n, c_out, *out_hw), dtype)
    elif use_out == 'alias' and x.shape == (n, c_out, *out_hw):
        args['out'], aliased = x, [('out', 'x')]

    def call(op):

        def run(a):
            return op(a['x'], a['weight'], a['bias'], a['mask'], stride=stride, padding=padding,
                      dilation=dilation, groups=groups, out=a['out'])

        return run

    case = Case(args, call(sparse_conv2d), call(sparse_conv2d_reference),
                ('out', ) if args['out'] is not None else (), aliased)
    return perturb(draw, case, ('x', 'weight', 'bias', 'out'))


@st.composite
def depthwise_conv2d_case(draw) -> Case:
    n, c, h, w = draw(SIZES), draw(st.integers(1, 3)), draw(SIZES), draw(SIZES)
    kernel = draw(st.sampled_from([1, 3, 5]))
    stride, padding, dilation = draw_geometry(draw)
    dtype = draw_dtype(draw)
    args = dict(x=make(draw, (n, c, h, w), dtype,
                       draw_layout(draw)), weight=make(draw, (c, 1, kernel, kernel), dtype),
                bias=make(draw, (c, ), dtype) if draw(st.booleans()) else None)

    def call(op):
        geometry = dict(stride=stride, padding=padding, dilation=dilation)
        return lambda a: op(a['x'], a['weight'], a['bias'], **geometry)

    case = Case(args, call(depthwise_conv2d), call(depthwise_conv2d_reference))
    return perturb(draw, case, ('x', 'weight', 'bias'))


@st.composite
def stem_conv2d_case(draw) -> Case:
    n, c_in, h, w = draw(SIZES), draw(st.integers(1, 3)), draw(SIZES), draw(SIZES)
    c_out, kernel = draw(st.integers(1, 4)), draw(st.sampled_from([1, 3]))
    stride, padding, _ = draw_geometry(draw)
    activation = draw(st.sampled_from(['identity', 'relu', 'hswish']))
    dtype = draw_dtype(draw)
    args = dict(x=make(draw, (n, c_in, h, w), dtype,
                       draw_layout(draw)), weight=make(draw, (c_out, c_in, kernel, kernel), dtype),
                bias=make(draw, (c_out, ), dtype) if draw(st.booleans()) else None)

    def call(op):
        return lambda a: op(a['x'], a['weight'], a['bias'], stride=stride, padding=padding,
                            activation=activation, check_finite=True)

    case = Case(args, call(stem_conv2d), call(stem_conv2d_reference))
    return perturb(draw, case, ('x', 'weight', 'bias'))


def draw_block_conv(draw):
    """(n, c_in, h, w, kernel, block, stride, padding, dilation) of a block-gated conv."""
    n, c_in, h, w = draw(SIZES), draw(st.integers(1, 3)), draw(SIZES), draw(SIZES)
    kernel = draw(st.sampled_from([1, 3]))
    stride, padding, dilation = draw_geometry(draw)
    return n, c_in, h, w, (kernel, kernel), draw(st.sampled_from([1, 2, 4])), stride, padding, \
        dilation


def changed_frame(draw, first: torch.Tensor, layout: str) -> torch.Tensor:
    """``first`` with about a third of its values changed, in ``layout``."""
    change = make(draw, tuple(first.shape), first.dtype)
    keep = torch.rand(first.shape, generator=torch.Generator().manual_seed(1)) < 0.7
    x = torch.where(keep, first, change)
    if layout == 'channels_last':
        return x.contiguous(memory_format=torch.channels_last)
    if layout == 'strided':
        return torch.stack([x, x], -1)[..., 0]
    return x


@st.composite
def commit_changed_windows_case(draw) -> Case:
    n, c_in, h, w, kernel, block, stride, padding, dilation = draw_block_conv(draw)
    dtype = draw_dtype(draw)
    first = make(draw, (n, c_in, h, w), dtype)
    geometry = dict(block_size=block, kernel_size=kernel, stride=stride, padding=padding,
                    dilation=dilation)
    try:
        snapshots = block_input_windows(first, block, kernel, stride, padding,
                                        dilation).contiguous()
    except REFUSALS:
        snapshots = make(draw, (n, 1, 1, c_in, 1, 1), dtype)
    args = dict(x=changed_frame(draw, first, draw_layout(draw)), snapshots=snapshots,
                limit=draw(st.sampled_from([0.0, 0.5])))

    def call(op):
        return lambda a: op(a['x'], a['snapshots'], a['limit'], **geometry)

    case = Case(args, call(commit_changed_windows), call(commit_changed_windows_reference),
                ('snapshots', ))
    return perturb(draw, case, ('x', 'snapshots'))


def restored(logged: Callable, state: str) -> Callable:
    """The call of a logged frame op (given as ``logged(args)``): its count, its undo record,
    and ``args[state]`` and ``args['output']`` after it; the buffers are then restored from the
    record, so that they end equal to the reference's only if both records restore them."""

    def run(args):
        count, undo = logged(args)
        after = (args[state].clone(), args['output'].clone())
        undo.restore()
        return (count, undo.in_mask, undo.old_in, undo.out_mask, undo.old_out, *after)

    return run


@st.composite
def skip_conv2d_frame_case(draw, logged: bool = False) -> Case:
    n, c_in, h, w, kernel, block, stride, padding, dilation = draw_block_conv(draw)
    c_out, dtype = draw(st.integers(1, 3)), draw_dtype(draw)
    first = make(draw, (n, c_in, h, w), dtype)
    weight = make(draw, (c_out, c_in, *kernel), dtype)
    bias = make(draw, (c_out, ), dtype) if draw(st.booleans()) else None
    geometry = dict(stride=stride, padding=padding, dilation=dilation)
    try:
        snapshots = block_input_windows(first, block, kernel, stride, padding,
                                        dilation).contiguous()
        output = torch.nn.functional.conv2d(first, weight, bias, **geometry)
    except REFUSALS:
        snapshots, output = make(draw, (n, 1, 1, c_in, 1, 1),
                                 dtype), make(draw, (n, c_out, 1, 1), dtype)
    args = dict(x=changed_frame(draw, first, draw_layout(draw)), snapshots=snapshots, output=output,
                weight=weight, bias=bias)
    limit, dense_above = draw(st.sampled_from([0.0, 0.5])), draw(st.sampled_from([0.5, 1.0]))

    def call(op):
        return lambda a: op(a['x'], a['snapshots'], a['output'], a['weight'], a['bias'], limit,
                            block_size=block, groups=1, dense_above=dense_above, **geometry)

    if logged:
        case = Case(args, restored(call(skip_conv2d_frame_logged), 'snapshots'),
                    restored(call(skip_conv2d_frame_logged_reference), 'snapshots'),
                    ('snapshots', 'output'))
    else:
        case = Case(args, call(skip_conv2d_frame), call(skip_conv2d_frame_reference),
                    ('snapshots', 'output'))
    if draw(st.booleans()) and output.shape == args['x'].shape:
        case.args['output'], case.aliased = case.args['x'], [('output', 'x')]
    return perturb(draw, case, ('x', 'snapshots', 'output', 'weight', 'bias'))


@st.composite
def delta_conv2d_frame_case(draw, logged: bool = False) -> Case:
    n, c_in, h, w, kernel, groups, c_out, stride, padding, dilation, dtype = draw_grouped_conv(draw)
    geometry = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    first = make(draw, (n, c_in, h, w), dtype)
    weight = make(draw, (c_out, c_in // groups, kernel, kernel), dtype)
    try:
        output = torch.nn.functional.conv2d(first, weight, None, **geometry)
    except REFUSALS:
        output = make(draw, (n, c_out, 1, 1), dtype)
    args = dict(x=changed_frame(draw, first,
                                draw_layout(draw)), reference=first.clone(), output=output,
                weight=weight, packed_weight=pack_delta_conv2d_weight(weight, groups))
    threshold, dense_above = draw(st.sampled_from([0.0, 0.5])), draw(st.sampled_from([0.5, 1.0]))

    def run(a):
        macs = delta_conv2d_frame(a['x'], a['reference'], a['output'], a['weight'],
                                  a['packed_weight'], threshold, dense_above=dense_above,
                                  **geometry)
        return macs if dense_above == 1.0 else ()  # the dense path counts dense MACs

    def reference(a):
        macs = delta_conv2d_frame_reference(a['x'], a['reference'], a['output'], a['weight'],
                                            threshold, **geometry)
        return macs if dense_above == 1.0 else ()

    def run_logged(a):
        macs, undo = delta_conv2d_frame_logged(a['x'], a['reference'], a['output'], a['weight'],
                                               a['packed_weight'], threshold,
                                               dense_above=dense_above, **geometry)
        return (macs if dense_above == 1.0 else 0), undo

    def reference_logged(a):
        macs, undo = delta_conv2d_frame_logged_reference(a['x'], a['reference'], a['output'],
                                                         a['weight'], threshold, **geometry)
        return (macs if dense_above == 1.0 else 0), undo

    calls = (restored(run_logged, 'reference'),
             restored(reference_logged, 'reference')) if logged else (run, reference)
    case = Case(args, *calls, ('reference', 'output'))
    if draw(st.booleans()) and output.shape == args['x'].shape:
        case.args['output'], case.aliased = case.args['x'], [('output', 'x')]
    return perturb(draw, case, ('x', 'reference', 'output', 'weight', 'packed_weight'))


@st.composite
def movinet_head_frame_case(draw) -> Case:
    n, c, h, w = draw(SIZES), draw(st.integers(1, 4)), draw(SIZES), draw(SIZES)
    hidden, classes, dtype = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw_dtype(draw)
    first = draw(st.booleans())
    args = dict(x=make(draw, (n, c, h, w), dtype,
                       draw_layout(draw)), pooled_sum=None if first else make(draw, (n, c), dtype),
                hidden_weight=make(draw, (hidden, c),
                                   dtype), hidden_bias=make(draw, (hidden, ), dtype),
                fc_weight=make(draw, (classes, hidden), dtype),
                fc_bias=make(draw, (classes, ), dtype) if draw(st.booleans()) else None)
    activation = draw(st.sampled_from(['identity', 'relu', 'hswish']))

    def call(op):
        return lambda a: op(a['x'], a['pooled_sum'], 0 if first else 3, a['hidden_weight'], a[
            'hidden_bias'], activation, a['fc_weight'], a['fc_bias'])

    case = Case(args, call(movinet_head_frame), call(movinet_head_frame_reference))
    return perturb(draw, case, ('x', 'pooled_sum', 'hidden_weight', 'fc_weight', 'fc_bias'))


@st.composite
def movinet_block_frame_case(draw) -> Case:
    from tests.ops.test_movinet_block_frame import random_case
    dtype = draw_dtype(draw)
    x, weights, past, pooled_sum, frames_seen = random_case(
        draw(st.integers(0, 2**16)), n=draw(SIZES), in_channels=draw(st.integers(1, 3)),
        size=(draw(SIZES), draw(SIZES)), stride=draw(st.sampled_from([1, 2])),
        temporal_taps=draw(st.integers(0, 3)), first_frame=draw(st.booleans()), dtype=dtype)
    args = dict(x=x, past=past, pooled_sum=pooled_sum, **{
        f: v
        for f, v in weights._asdict().items() if isinstance(v, torch.Tensor)
    })

    def call(op):

        def run(a):
            fields = {f: a.get(f, v) for f, v in weights._asdict().items()}
            return op(a['x'], BlockFrameWeights(**fields), a['past'], a['pooled_sum'], frames_seen)

        return run

    case = Case(args, call(movinet_block_frame), call(movinet_block_frame_reference))
    return perturb(draw, case, ('x', 'expand_weight', 'spatial_weight', 'project_weight'))


@st.composite
def cond_conv2d_case(draw) -> Case:
    n, c_in, h, w, kernel, groups, c_out, stride, padding, dilation, dtype = draw_grouped_conv(draw)
    experts = draw(st.integers(1, 3))
    args = dict(x=make(draw, (n, c_in, h, w), dtype, draw_layout(draw)),
                weight=make(draw, (experts, c_out, c_in // groups, kernel, kernel), dtype),
                bias=make(draw, (experts, c_out), dtype) if draw(st.booleans()) else None,
                routing=make(draw, (n, experts), dtype))
    pointwise = kernel == 1 and stride == (1, 1) and padding == (0, 0) and groups == 1
    strategy = draw(st.sampled_from([s for s in STRATEGIES if pointwise or s != 'matmul']))

    def call(op, **options):
        geometry = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        return lambda a: op(a['x'], a['weight'], a['bias'], a['routing'], **geometry, **options)

    case = Case(args, call(cond_conv2d, strategy=strategy), call(cond_conv2d_reference))
    return perturb(draw, case, ('x', 'weight', 'bias', 'routing'))


@st.composite
def kgs_conv3d_case(draw) -> Case:
    n, c_in, t, h, w = draw(SIZES), draw(st.integers(1, 3)), draw(SIZES), draw(SIZES), draw(SIZES)
    c_out, kernel = draw(st.integers(1, 5)), (draw(st.sampled_from([1, 3])), 3, 3)
    dtype, (stride, padding, dilation) = draw_dtype(draw), draw_geometry(draw)
    weight = make(draw, (c_out, c_in, *kernel), dtype)
    keep = torch.rand(weight.shape, generator=torch.Generator().manual_seed(c_out)) < draw(
        st.sampled_from([0.0, 0.4, 1.0]))
    values, block_ptr, columns = pack_kgs_conv3d_weight(weight, keep, draw(st.integers(1, 4)))
    args = dict(x=make(draw, (n, c_in, t, h, w), dtype,
                       draw_layout(draw)), values=values, block_ptr=block_ptr, columns=columns,
                bias=make(draw, (c_out, ), dtype) if draw(st.booleans()) else None)
    geometry = dict(stride=stride[0], padding=padding[0], dilation=dilation[0])

    def call(op):
        return lambda a: op(a['x'], a['values'], a['block_ptr'], a['columns'], a['bias'], c_out,
                            kernel, **geometry)

    case = Case(args, call(kgs_conv3d), call(kgs_conv3d_reference))
    return perturb(draw, case, ('x', 'values', 'bias'))


@st.composite
def sparse_interp2d_case(draw) -> Case:
    n, c, h, w, dtype = draw(SIZES), draw(st.integers(
        1, 3)), draw(SIZES), draw(SIZES), draw_dtype(draw)
    k = draw(st.sampled_from([1, 3, 5]))
    x = make(draw, (n, c, h, w), dtype, draw_layout(draw))
    mask = torch.rand(n, h, w, generator=torch.Generator().manual_seed(n + h + w)) < draw(
        st.sampled_from([0.0, 0.3, 1.0]))
    args = dict(x=x, mask=mask, log_weight=make(draw, (c, k, k) if draw(st.booleans()) else (k, k),
                                                dtype),
                fill=make(draw, (c, ), dtype) if draw(st.booleans()) else None, out=None)
    aliased = []
    use_out = draw(st.sampled_from(['none', 'out', 'alias']))
    if use_out == 'out':
        args['out'] = make(draw, (n, c, h, w), dtype)
    elif use_out == 'alias':
        args['out'], aliased = x, [('out', 'x')]

    def run(a):
        return sparse_interp2d(a['x'], a['mask'], a['log_weight'], a['fill'], out=a['out'])

    def reference(a):
        result = sparse_interp2d_reference(a['x'], a['mask'], a['log_weight'], a['fill'])
        return result if a['out'] is None else a['out'].copy_(result)

    case = Case(args, run, reference, ('out', ) if args['out'] is not None else (), aliased)
    return perturb(draw, case, ('x', 'mask', 'log_weight', 'fill', 'out'))


def describe(case: Case) -> str:
    """The arguments' shapes, dtypes, devices and layouts, and the case's faults."""
    parts = []
    for name, value in case.args.items():
        if isinstance(value, torch.Tensor):
            channels_last = torch.channels_last if value.dim() == 4 else torch.channels_last_3d
            layout = 'contiguous' if value.is_contiguous() else ('channels_last' if value.dim() in (
                4, 5) and value.is_contiguous(memory_format=channels_last) else 'strided')
            parts.append(f'{name}={tuple(value.shape)}:{value.dtype}:{value.device}:{layout}')
        else:
            parts.append(f'{name}={value!r}'[:80])
    return f'{", ".join(parts)} aliased={case.aliased} meta={case.meta}'


CASES = {
    'sparse_conv2d': sparse_conv2d_case,
    'depthwise_conv2d': depthwise_conv2d_case,
    'stem_conv2d': stem_conv2d_case,
    'commit_changed_windows': commit_changed_windows_case,
    'skip_conv2d_frame': skip_conv2d_frame_case,
    'delta_conv2d_frame': delta_conv2d_frame_case,
    'skip_conv2d_frame_logged': functools.partial(skip_conv2d_frame_case, logged=True),
    'delta_conv2d_frame_logged': functools.partial(delta_conv2d_frame_case, logged=True),
    'movinet_head_frame': movinet_head_frame_case,
    'movinet_block_frame': movinet_block_frame_case,
    'cond_conv2d': cond_conv2d_case,
    'kgs_conv3d': kgs_conv3d_case,
    'sparse_interp2d': sparse_interp2d_case,
}


def search(name: str, examples: int) -> str:
    """'ok', or the shrunk failing example and its error."""
    failure: List[str] = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=CASES[name]())
    def property_holds(case: Case) -> None:
        try:
            check(case)
        except Exception:
            failure[:] = [f'{describe(case)}: {traceback.format_exc(limit=-1)}']
            raise

    try:
        property_holds()
    except Exception:
        return failure[0] if failure else traceback.format_exc(limit=3)
    return 'ok'


if __name__ == '__main__':
    if sys.argv[1] == '--ops':
        print(json.dumps(list(CASES)))
    else:
        results = {}
        for op in sys.argv[2:] or CASES:
            print(f'searching {op}', file=sys.stderr, flush=True)  # names the op of a crash
            results[op] = search(op, int(sys.argv[1]))
        print(json.dumps(results))
