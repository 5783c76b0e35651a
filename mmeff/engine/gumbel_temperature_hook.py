"""``GumbelTemperatureHook``: anneal the temperature of every GumbelGate during training."""
from mmengine.registry import HOOKS

from ..layers import GumbelGate
from .temperature_hook import TemperatureHook, annealed_temperature


@HOOKS.register_module()
class GumbelTemperatureHook(TemperatureHook):
    """Sets ``temperature`` of every ``GumbelGate`` before each training iteration.

    The temperature falls exponentially from ``start`` to ``end`` over the training run
    (``runner.max_iters``), so the Gumbel-sigmoid gates go from soft, exploring decisions to
    nearly deterministic ones that match inference (``logit > 0``).
    """
    target_name = 'GumbelGate'
    scalar = 'train/gate_temperature'

    def __init__(self, start: float = 2 / 3, end: float = 0.1):
        super().__init__(start, end)

    def targets(self, model):
        return [m for m in model.modules() if isinstance(m, GumbelGate)]

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self.apply(
            runner,
            annealed_temperature(self.start, self.end, runner.iter / max(runner.max_iters - 1, 1)))
