"""``SamplingTemperatureHook``: anneal the Gumbel temperature of every SamplingMaskHead."""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..layers import SamplingMaskHead
from .gumbel_temperature_hook import annealed_temperature


@HOOKS.register_module()
class SamplingTemperatureHook(Hook):
    """After each training iteration, sets the ``temperature`` buffer of every
    ``SamplingMaskHead`` to ``start * (end / start) ** ((iter + 1) / max_iters)``.

    The temperature falls exponentially from ``start`` (1, the paper's) to ``end`` (0.03,
    where the paper's per-iteration decay of 0.99998 ends after a 12-epoch COCO run) over
    ``runner.max_iters``. The buffer is saved in checkpoints, so a resumed run continues
    from the checkpoint's temperature, and the next iteration's value depends only on
    ``runner.iter``.
    """
    priority = 'NORMAL'

    def __init__(self, start: float = 1.0, end: float = 0.03):
        if not 0 < end <= start:
            raise ValueError(f'SamplingTemperatureHook: need 0 < end <= start, got {start}, {end}')
        self.start = float(start)
        self.end = float(end)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        temperature = annealed_temperature(self.start, self.end,
                                           (runner.iter + 1) / max(runner.max_iters, 1))
        heads = [m for m in runner.model.modules() if isinstance(m, SamplingMaskHead)]
        if not heads:
            raise RuntimeError('SamplingTemperatureHook: the model has no SamplingMaskHead')
        for head in heads:
            head.temperature.fill_(temperature)
        runner.message_hub.update_scalar('train/sampling_temperature', temperature)
