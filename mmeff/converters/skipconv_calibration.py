"""Per-layer thresholds for SkipConv norm gates, relative to each layer's own signal scale.

A norm gate compares the sum of |change| over a block's input window with a threshold ε, so
the useful ε of a layer scales with the magnitude of that layer's inputs and with its window
size (C_in · win_h · win_w), which differ by orders of magnitude across a network. One shared
ε is too small for some layers and too large for others. :func:`calibrate_norm_gates` instead
sets, for every SkipConv2d with a norm gate,

    ε_l = relative · mean over blocks and frames of  Σ |x[window]|      (InputNormGate)
    ε_l = relative · max|W_l| · (the same mean)                           (OutputNormGate)
    ε_l = relative · mean over values and frames of |x|                   (ValueGate)

measured on a few frames: a block recomputes when its input window changed by more than
``relative`` of a typical window's L1 mass (a value gate's window is one value).
``relative=0`` keeps every layer exact.
"""
from typing import Any, Callable, Dict, Iterable, Optional

import torch
from torch import nn

from ..layers import InputNormGate, OutputNormGate, SkipConv2d, StreamState, ValueGate, stream

THRESHOLD_GATES = (InputNormGate, OutputNormGate, ValueGate)


def norm_gate_layers(model: nn.Module) -> Dict[str, SkipConv2d]:
    """The SkipConv2d layers of ``model`` whose gate is a threshold on a norm of the change
    (the norm gates and the value gate), by qualified name."""
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, SkipConv2d) and isinstance(m.gate, THRESHOLD_GATES)
    }


def run_with_pre_hooks(model: nn.Module, frames: Iterable[Any],
                       forward: Optional[Callable[[Any], Any]], hooks: Dict[nn.Module,
                                                                            Callable]) -> None:
    """Run ``frames`` (each ``forward(frame)``, default ``model(frame)``) with forward
    pre-hooks on the given layers, in eval mode and a private stream, so no stream state of
    the caller is touched; the hooks are removed and the train/eval mode restored after."""
    handles = [layer.register_forward_pre_hook(hook) for layer, hook in hooks.items()]
    was_training = model.training
    model.eval()
    try:
        with stream(StreamState()):
            for frame in frames:
                (forward or model)(frame)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)


@torch.no_grad()
def measure_window_norms(model: nn.Module, frames: Iterable[Any],
                         forward: Optional[Callable[[Any], Any]] = None) -> Dict[str, float]:
    """Mean Σ|x[window]| of every norm-gated layer's blocks over ``frames`` (for a value
    gate, the mean |x| of the layer's input values).

    Args:
        model: a converted model (see :func:`~mmeff.convert_to_skipconv`).
        frames: the inputs to run, each passed to ``forward``.
        forward: how to run one input (default ``model(frame)``).

    The frames run in eval mode inside a private stream, so no stream state of the caller is
    touched; the model's train/eval mode is restored afterwards.
    """
    layers = norm_gate_layers(model)
    if not layers:
        raise ValueError('measure_window_norms: the model has no SkipConv2d with a norm gate')
    sums = {name: 0.0 for name in layers}
    counts = {name: 0 for name in layers}

    def hook(name):

        def record(layer, args):
            if isinstance(layer.gate, ValueGate):
                sums[name] += args[0].abs().mean().item()
            else:
                sums[name] += layer.block_windows(args[0]).abs().sum(dim=(3, 4, 5)).mean().item()
            counts[name] += 1

        return record

    run_with_pre_hooks(model, frames, forward, {layers[name]: hook(name) for name in layers})
    if not all(counts.values()):
        missing = [name for name, c in counts.items() if not c]
        raise ValueError(f'measure_window_norms: no frame reached layers {missing[:3]}...')
    return {name: sums[name] / counts[name] for name in layers}


def calibrate_norm_gates(model: nn.Module, frames: Iterable[Any], relative: float,
                         forward: Optional[Callable[[Any], Any]] = None,
                         overrides: Optional[Dict[str, float]] = None) -> Dict[str, float]:
    """Set every norm gate's threshold relative to its layer's window norm (module doc).

    ``overrides`` gives some layers (by qualified name) their own relative setting, e.g. the
    layer reading the image a larger one, above the camera's sensor noise.
    Returns the thresholds set, by layer name.
    """
    layers = norm_gate_layers(model)
    relatives = {name: relative for name in layers}
    unknown = set(overrides or {}) - set(layers)
    if unknown:
        raise ValueError(f'calibrate_norm_gates: overrides name layers without a norm gate: '
                         f'{sorted(unknown)[:3]}')
    relatives.update(overrides or {})
    negative = {name: r for name, r in relatives.items() if r < 0}
    if negative:
        raise ValueError(f'calibrate_norm_gates: relative must be >= 0, got {negative}')
    norms = measure_window_norms(model, frames, forward)
    thresholds = {}
    for name, norm in norms.items():
        layers[name].gate.threshold = thresholds[name] = relatives[name] * threshold_unit(
            layers[name], norm)
    return thresholds


def threshold_unit(layer: SkipConv2d, window_norm: float) -> float:
    """The threshold of relative 1 for ``layer`` whose mean window L1 norm is ``window_norm``."""
    if isinstance(layer.gate, OutputNormGate):
        return window_norm * layer.weight.detach().abs().max().item()
    return window_norm
