"""A hook for tests/e2e/test_resume.py: the training process kills itself (SIGKILL) before
the first iteration of ``at_iters`` it has not been killed at yet, so that the same command,
restarted with ``--resume``, dies at the next one. ``<work_dir>/killed_at_<iter>`` marks a
kill done (written before the kill)."""
import os
import signal
from pathlib import Path
from typing import Sequence

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class SigkillHook(Hook):

    def __init__(self, at_iters: Sequence[int] = ()):
        self.at_iters = list(at_iters)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        marker = Path(runner.work_dir) / f'killed_at_{runner.iter}'
        if runner.iter in self.at_iters and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
