"""``GumbelTemperatureHook``: anneal the temperature of every GumbelGate during training."""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..layers import GumbelGate


def annealed_temperature(start: float, end: float, progress: float) -> float:
    """Exponential interpolation from ``start`` (progress 0) to ``end`` (progress >= 1)."""
    progress = min(max(progress, 0.0), 1.0)
    return start * (end / start)**progress


@HOOKS.register_module()
class GumbelTemperatureHook(Hook):
    """Sets ``temperature`` of every ``GumbelGate`` before each training iteration.

    The temperature falls exponentially from ``start`` to ``end`` over the training run
    (``runner.max_iters``), so the Gumbel-sigmoid gates go from soft, exploring decisions to
    nearly deterministic ones that match inference (``logit > 0``).
    """
    priority = 'NORMAL'

    def __init__(self, start: float = 2 / 3, end: float = 0.1):
        if not 0 < end <= start:
            raise ValueError(f'GumbelTemperatureHook: need 0 < end <= start, got {start}, {end}')
        self.start = float(start)
        self.end = float(end)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        temperature = annealed_temperature(self.start, self.end,
                                           runner.iter / max(runner.max_iters - 1, 1))
        gates = [m for m in runner.model.modules() if isinstance(m, GumbelGate)]
        if not gates:
            raise RuntimeError('GumbelTemperatureHook: the model has no GumbelGate')
        for gate in gates:
            gate.temperature = temperature
        runner.message_hub.update_scalar('train/gate_temperature', temperature)
