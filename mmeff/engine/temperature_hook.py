"""``TemperatureHook``: the base of the hooks that anneal a temperature of model parts during
training (Gumbel gates, sampling mask heads, softmax routers)."""
from typing import List

from mmengine.hooks import Hook
from torch import nn


def annealed_temperature(start: float, end: float, progress: float) -> float:
    """Exponential interpolation from ``start`` (progress 0) to ``end`` (progress >= 1)."""
    progress = min(max(progress, 0.0), 1.0)
    return start * (end / start)**progress


class TemperatureHook(Hook):
    """Sets the temperature of the model's parts that :meth:`targets` picks, and logs it as
    ``scalar``. A subclass chooses when (an mmengine hook point calling :meth:`apply`), the
    schedule, and the parts.

    Args:
        start, end: the first and the last temperature, ``0 < end <= start``.
    """
    priority = 'NORMAL'
    #: what the model must hold, for the error when it holds none
    target_name = ''
    #: the message-hub scalar the temperature is logged as
    scalar = ''

    def __init__(self, start: float, end: float):
        if not 0 < end <= start:
            raise ValueError(f'{type(self).__name__}: need 0 < end <= start, got {start}, {end}')
        self.start, self.end = float(start), float(end)

    def targets(self, model: nn.Module) -> List[nn.Module]:
        """The modules whose temperature the hook sets."""
        raise NotImplementedError

    def set_temperature(self, module: nn.Module, temperature: float) -> None:
        module.temperature = temperature

    def apply(self, runner, temperature: float) -> None:
        modules = self.targets(runner.model)
        if not modules:
            raise RuntimeError(f'{type(self).__name__}: the model has no {self.target_name}')
        for module in modules:
            self.set_temperature(module, temperature)
        runner.message_hub.update_scalar(self.scalar, temperature)
