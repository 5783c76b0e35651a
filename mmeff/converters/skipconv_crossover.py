"""Per-layer dense crossovers for value-gated SkipConv layers, measured on this machine.

A value gate's sparse kernel beats the dense conv only below some share of fired input
values, and that share differs by an order of magnitude between layer shapes (against a
plain dense conv, ``tools/benchmark_delta_conv.py`` on an AVX-512 CPU:
about 20 % for a 3x3 32->32 conv at 64x48, above 25 % for 3x3 256->256 at 8x6, about 1 %
for a 1x1 256->64). :func:`measure_dense_crossovers` times, for every distinct layer
geometry of a converted model, the op's frame update through the sparse kernel
(``dense_above=1``) against the same update through its dense path (the delta's conv, added
to the output) at a few shares of fired values, and sets each ``ValueGate.dense_above`` to
the share where the two times cross (linear in the speed-up between the two shares around
1). Times are medians of alternating
runs in the calling process, so the result depends on the machine, its load and the thread
count: measure with the thread count you deploy with.
"""
import time
from typing import Any, Callable, Dict, Hashable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import SkipConv2d, ValueGate
from ..ops import delta_conv2d_frame, pack_delta_conv2d_weight
from .skipconv_calibration import run_with_pre_hooks

SHARES = (0.01, 0.03, 0.1, 0.2, 0.35, 0.5)


def crossover_share(shares: Sequence[float], speedups: Sequence[float]) -> float:
    """The share where the sparse op's speed-up over dense falls to 1, from measurements at
    increasing ``shares``: linear between the last share above 1 and the first below; the
    first share if already slower there, 1 if never slower."""
    if len(shares) != len(speedups) or not shares:
        raise ValueError('crossover_share: need one speed-up per share, at least one')
    if speedups[0] <= 1:
        return float(shares[0])
    for (s0, v0), (s1, v1) in zip(zip(shares, speedups), zip(shares[1:], speedups[1:])):
        if v1 <= 1:
            return float(s0 + (v0 - 1) / (v0 - v1) * (s1 - s0))
    return 1.0


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


@torch.no_grad()
def speedups_of(layer: SkipConv2d, x_like: Tensor, shares: Sequence[float], repeats: int,
                generator: torch.Generator, pattern: str) -> list:
    """Dense-path time / sparse time of ``layer``'s frame update on an input like ``x_like``
    (shape, dtype, strides) at each share of fired values: scattered values
    (``pattern='values'``) or every channel of scattered pixels (``'pixels'``)."""
    conv = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
                groups=layer.groups)
    weight = layer.weight.detach()
    packed = pack_delta_conv2d_weight(weight, layer.groups)
    base = torch.empty_like(x_like).normal_(generator=generator)  # x_like's strides
    output = F.conv2d(base, weight, None, **conv)
    speedups = []
    for share in shares:
        if pattern == 'values':
            fired = torch.rand(base.shape, generator=generator) < share
        else:
            fired = (torch.rand(1, 1, *base.shape[2:], generator=generator)
                     < share).expand(base.shape)
        x = torch.empty_like(base).copy_(base + fired *
                                         (1 + torch.rand(base.shape, generator=generator)))
        reference = base.clone()

        def frame(dense_above):  # the layer's frame update, sparse (1) or through the dense
            reference.copy_(base)  # path (any share fired: the delta's conv, added)
            delta_conv2d_frame(x, reference, output, weight, packed, 0.5, dense_above=dense_above,
                               **conv)

        def sparse():
            frame(1.0)

        def dense():
            frame(1e-9)

        for fn in (sparse, dense):  # warm-up
            fn()
        t_sparse = t_dense = 0.0
        for _ in range(3):  # alternating bursts
            t_sparse += median_seconds(sparse, repeats)
            t_dense += median_seconds(dense, repeats)
        speedups.append(t_dense / t_sparse)
    return speedups


def layer_geometry(layer: SkipConv2d, x: Tensor) -> Hashable:
    return (tuple(x.shape), x.dtype, x.is_contiguous(), tuple(layer.weight.shape), layer.stride,
            layer.padding, layer.dilation, layer.groups)


@torch.no_grad()
def measure_dense_crossovers(model: nn.Module, frame: Any, forward: Optional[Callable[[Any],
                                                                                      Any]] = None,
                             shares: Sequence[float] = SHARES, repeats: int = 5,
                             pattern: str = 'pixels', seed: int = 0) -> Dict[str, float]:
    """Set every value-gated layer's ``dense_above`` to its measured crossover (module doc).

    Args:
        model: a converted model (:func:`~mmeff.convert_to_skipconv`) with ValueGate layers.
        frame: one input, run once (``forward(frame)``, default ``model(frame)``) in eval mode
            inside a private stream to see each layer's input shape; no stream state of the
            caller is touched and the model's train/eval mode is restored.
        shares: increasing shares of fired values to time, in (0, 1].
        repeats: timed calls per burst (3 alternating bursts per share).
        pattern: how the timed fired values lie: ``'pixels'`` (every channel of scattered
            pixels, as where a video changes) or ``'values'`` (scattered values, the sparse
            kernel's worst case).

    Returns the crossover set, by layer name. Layers of one geometry share a measurement.
    """
    layers = {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, SkipConv2d) and isinstance(m.gate, ValueGate)
    }
    if not layers:
        raise ValueError('measure_dense_crossovers: the model has no SkipConv2d with a ValueGate')
    if pattern not in ('values', 'pixels'):
        raise ValueError(f"measure_dense_crossovers: pattern must be 'values' or 'pixels', got "
                         f'{pattern!r}')
    if not shares or any(not 0 < s <= 1 for s in shares) or list(shares) != sorted(shares):
        raise ValueError(f'measure_dense_crossovers: shares must increase within (0, 1], got '
                         f'{shares}')
    inputs: Dict[str, Tensor] = {}

    def hook(name):

        def record(layer, args):
            inputs.setdefault(name, torch.empty_like(args[0]))

        return record

    run_with_pre_hooks(model, [frame], forward, {layers[name]: hook(name) for name in layers})
    missing = [name for name in layers if name not in inputs]
    if missing:
        raise ValueError(f'measure_dense_crossovers: the frame did not reach layers {missing[:3]}')
    generator = torch.Generator().manual_seed(seed)
    by_geometry: Dict[Hashable, float] = {}
    crossovers = {}
    for name, layer in layers.items():
        key = layer_geometry(layer, inputs[name])
        if key not in by_geometry:
            by_geometry[key] = crossover_share(
                shares, speedups_of(layer, inputs[name], shares, repeats, generator, pattern))
        layer.gate.dense_above = crossovers[name] = by_geometry[key]
    return crossovers
