"""``RoutingTemperatureHook``: anneal the softmax temperature of DynamicConv-style routers."""
from typing import Optional

from mmengine.registry import HOOKS

from ..layers import CondConvRouter
from .temperature_hook import TemperatureHook


def linear_temperature(start: float, end: float, progress: float) -> float:
    """Linear interpolation from ``start`` (progress <= 0) to ``end`` (progress >= 1)."""
    progress = min(max(progress, 0.0), 1.0)
    return start + (end - start) * progress


@HOOKS.register_module()
class RoutingTemperatureHook(TemperatureHook):
    """Sets ``temperature`` of every softmax :class:`~mmeff.layers.CondConvRouter` before each
    training iteration.

    DynamicConv (Chen et al., 2020) starts its attention with a large temperature, so the
    experts get nearly equal weights and all of them train, then lowers it linearly to 1
    over the first epochs (the paper: 30 to 1 over 10 epochs). Here the temperature goes
    linearly from ``start`` at iteration 0 to ``end`` at iteration ``anneal_iters`` (by
    default the whole run, ``runner.max_iters - 1``) and stays at ``end`` after it.

    Args:
        start: the first temperature.
        end: the last temperature, ``0 < end <= start``.
        anneal_iters: iterations over which to anneal, or None for the whole run.
    """
    target_name = 'softmax CondConvRouter'
    scalar = 'train/routing_temperature'

    def __init__(self, start: float = 30.0, end: float = 1.0, anneal_iters: Optional[int] = None):
        super().__init__(start, end)
        if anneal_iters is not None and anneal_iters < 1:
            raise ValueError(
                f'RoutingTemperatureHook: anneal_iters must be >= 1, got {anneal_iters}')
        self.anneal_iters = anneal_iters

    def temperature_at(self, iteration: int, max_iters: int) -> float:
        """The temperature of training iteration ``iteration`` (0-based)."""
        span = self.anneal_iters if self.anneal_iters is not None else max(max_iters - 1, 1)
        return linear_temperature(self.start, self.end, iteration / span)

    def targets(self, model):
        return [m for m in model.modules() if isinstance(m, CondConvRouter) and m.gate == 'softmax']

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self.apply(runner, self.temperature_at(runner.iter, runner.max_iters))
