"""``SamplingTemperatureHook``: anneal the Gumbel temperature of every SamplingMaskHead."""
from mmengine.registry import HOOKS

from ..layers import SamplingMaskHead
from .temperature_hook import TemperatureHook, annealed_temperature


@HOOKS.register_module()
class SamplingTemperatureHook(TemperatureHook):
    """After each training iteration, sets the ``temperature`` buffer of every
    ``SamplingMaskHead`` to ``start * (end / start) ** ((iter + 1) / max_iters)``.

    The temperature falls exponentially from ``start`` (1, the paper's) to ``end`` (0.03,
    where the paper's per-iteration decay of 0.99998 ends after a 12-epoch COCO run) over
    ``runner.max_iters``. The buffer is saved in checkpoints, so a resumed run continues
    from the checkpoint's temperature, and the next iteration's value depends only on
    ``runner.iter``.
    """
    target_name = 'SamplingMaskHead'
    scalar = 'train/sampling_temperature'

    def __init__(self, start: float = 1.0, end: float = 0.03):
        super().__init__(start, end)

    def targets(self, model):
        return [m for m in model.modules() if isinstance(m, SamplingMaskHead)]

    def set_temperature(self, module, temperature: float) -> None:
        module.temperature.fill_(temperature)  # a buffer, saved in checkpoints

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self.apply(
            runner,
            annealed_temperature(self.start, self.end,
                                 (runner.iter + 1) / max(runner.max_iters, 1)))
