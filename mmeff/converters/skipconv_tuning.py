"""Per-group thresholds for SkipConv norm gates, tuned to a MAC budget against exact outputs.

:func:`calibrate_norm_gates` gives every layer the same relative threshold. Layers differ in
how much compute a threshold saves and how much error it lets through to the model's output,
so :func:`tune_norm_gates` allocates the thresholds greedily on a calibration video (the
approach of DeltaCNN's per-layer tuner, here driven by a MAC budget):

1. Layers are grouped (default: by the spatial size of their input, i.e. by resolution). Every
   group starts at relative threshold ``start``.
2. Each step tries multiplying one group's relative threshold by ``factor`` (by a power of it
   where one factor saves nothing), for every group, runs the calibration frames, and keeps
   the candidate that saves the most executed MACs per unit of added output error.
3. It stops when the executed share of the dense MACs is at most ``max_share``, or when no
   candidate saves MACs, or after ``max_steps`` steps.

The output error is measured against the model's own exact outputs (all thresholds 0, which
the exactness contract makes equal to the dense model's), by default as the mean relative L2
error of the model's output tensors over the frames. Tune on a video other than the one you
report on.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Hashable, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..layers import StreamState, stream
from ..utils.mac_counter import MacCounter
from .skipconv_calibration import measure_window_norms, norm_gate_layers, threshold_unit

GroupOf = Callable[[str, Tuple[int, int]], Hashable]
OutputError = Callable[[List[Any], List[Any]], float]


def by_resolution(name: str, input_hw: Tuple[int, int]) -> Hashable:
    """Default grouping: layers with inputs of the same spatial size share a threshold."""
    return input_hw


def output_tensors(output: Any) -> List[Tensor]:
    """The tensors of a model output (a tensor, or nested tuples/lists/dicts of them)."""
    if isinstance(output, Tensor):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in output_tensors(item)]
    raise TypeError(f'tune_norm_gates: cannot compare model outputs of type {type(output)}; '
                    'pass error=')


def relative_l2_error(outputs: List[Any], exact: List[Any]) -> float:
    """Mean over frames and output tensors of ||y - y_exact|| / ||y_exact||."""
    errors = [((got - want).norm() / want.norm().clamp_min(1e-12)).item()
              for frame_got, frame_want in zip(outputs, exact)
              for got, want in zip(output_tensors(frame_got), output_tensors(frame_want))]
    return sum(errors) / len(errors)


@dataclass
class TuningStep:
    """One accepted state of the tuner: relative thresholds by group and what they gave."""
    relative: Dict[Hashable, float]
    mac_share: float
    error: float


@dataclass
class TuningResult:
    """The thresholds set (by layer), the group of each layer, and the tuner's trajectory."""
    thresholds: Dict[str, float]
    groups: Dict[str, Hashable]
    steps: List[TuningStep] = field(default_factory=list)

    @property
    def final(self) -> TuningStep:
        return self.steps[-1]


@torch.no_grad()
def layer_input_sizes(model: nn.Module, frame: Any,
                      forward: Callable[[Any], Any]) -> Dict[str, Tuple[int, int]]:
    """Spatial size of the input of every norm-gated SkipConv2d on one frame."""
    sizes = {}

    def hook(name):

        def record(layer, args):
            sizes.setdefault(name, tuple(args[0].shape[-2:]))

        return record

    handles = [
        layer.register_forward_pre_hook(hook(name))
        for name, layer in norm_gate_layers(model).items()
    ]
    try:
        with stream(StreamState()):
            forward(frame)
    finally:
        for handle in handles:
            handle.remove()
    return sizes


@torch.no_grad()
def run_frames(model: nn.Module, frames: Sequence[Any],
               forward: Callable[[Any], Any]) -> Tuple[List[Any], float]:
    """Run ``frames`` as one fresh stream: (outputs, executed share of the dense MACs)."""
    outputs = []
    with MacCounter(model) as counter, stream(StreamState()):
        for frame in frames:
            outputs.append(forward(frame))
            counter.update()
    gmacs = counter.gmacs_per_frame()
    return outputs, gmacs['executed'] / gmacs['dense']


def tune_norm_gates(model: nn.Module, frames: Iterable[Any], max_share: float,
                    forward: Optional[Callable[[Any], Any]] = None,
                    group_of: GroupOf = by_resolution, error: OutputError = relative_l2_error,
                    start: float = 0.01, factor: float = 2.0, max_steps: int = 40) -> TuningResult:
    """Set every norm gate's threshold so the model fits ``max_share`` of its dense MACs.

    Args:
        model: a converted model (see :func:`~mmeff.convert_to_skipconv`) with norm gates.
        frames: a calibration video, each frame passed to ``forward``.
        max_share: the budget: executed MACs / dense MACs over the frames, in (0, 1].
        forward: how to run one frame (default ``model(frame)``).
        group_of: ``(layer name, input size) -> key``; layers with one key share a threshold.
        error: ``(outputs, exact outputs) -> float``, lower is better.
        start, factor: first relative threshold of every group, and the step multiplier.
        max_steps: at most this many accepted steps.

    Returns:
        the thresholds set (by layer name), the groups, and every accepted step (the last one
        is the model's state). The frames run in eval mode in private streams; the model's
        train/eval mode is restored, and so are the thresholds if tuning fails.
    """
    if not 0 < max_share <= 1:
        raise ValueError(f'tune_norm_gates: max_share must be in (0, 1], got {max_share}')
    if start <= 0 or factor <= 1:
        raise ValueError(f'tune_norm_gates: need start > 0 and factor > 1, got start={start}, '
                         f'factor={factor}')
    frames = list(frames)
    if not frames:
        raise ValueError('tune_norm_gates: no calibration frames')
    forward = forward or model
    layers = norm_gate_layers(model)
    before = {name: layer.gate.threshold for name, layer in layers.items()}
    was_training = model.training
    model.eval()
    try:
        norms = measure_window_norms(model, frames, forward)
        sizes = layer_input_sizes(model, frames[0], forward)
        groups = {name: group_of(name, sizes[name]) for name in layers}
        units = {name: threshold_unit(layer, norms[name]) for name, layer in layers.items()}

        def apply(relative: Dict[Hashable, float]) -> None:
            for name, layer in layers.items():
                layer.gate.threshold = relative[groups[name]] * units[name]

        def evaluate(relative: Dict[Hashable, float]) -> TuningStep:
            apply(relative)
            outputs, share = run_frames(model, frames, forward)
            return TuningStep(dict(relative), share, error(outputs, exact))

        apply({group: 0.0 for group in groups.values()})
        exact = run_frames(model, frames, forward)[0]
        current = evaluate({group: start for group in groups.values()})
        steps = [current]
        while current.mac_share > max_share and len(steps) <= max_steps:
            current = best_step(current, dict.fromkeys(groups.values()), factor, evaluate)
            if current is None:
                break
            steps.append(current)
        apply(steps[-1].relative)
    except BaseException:  # a failed tuning leaves the thresholds as they were
        for name, layer in layers.items():
            layer.gate.threshold = before[name]
        raise
    finally:
        model.train(was_training)
    return TuningResult({
        name: layer.gate.threshold
        for name, layer in layers.items()
    }, groups, steps)


def best_step(current: TuningStep, groups: Iterable[Hashable], factor: float,
              evaluate: Callable[[Dict[Hashable, float]],
                                 TuningStep], plateau_steps: int = 4) -> Optional[TuningStep]:
    """The next state: of the candidates raising one group's threshold, the one saving the
    most MACs per unit of added error (an error that does not grow counts as a tiny one).

    A group's candidate is its threshold times ``factor``, or, where that saves nothing (the
    group's blocks still all fire on noise), times ``factor**k`` for the smallest k <=
    ``plateau_steps`` that saves MACs. None when no group saves MACs.
    """
    best, best_gain = None, 0.0
    for group in groups:
        for k in range(1, plateau_steps + 1):
            candidate = evaluate({**current.relative, group: current.relative[group] * factor**k})
            saved = current.mac_share - candidate.mac_share
            if saved > 0:
                break
        if saved <= 0:
            continue
        gain = saved / max(candidate.error - current.error, 1e-9)
        if gain > best_gain:
            best, best_gain = candidate, gain
    return best
