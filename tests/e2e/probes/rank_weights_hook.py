"""A hook for tests/e2e/test_cpu_distributed.py: after the run, every rank saves its model's
weights to ``<work_dir>/rank<RANK>.pth``, so the test can compare the ranks."""
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankWeightsHook(Hook):

    def after_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        torch.save(model.state_dict(), f'{runner.work_dir}/rank{get_rank()}.pth')
