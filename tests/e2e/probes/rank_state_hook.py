"""A hook for tests/e2e/test_distributed_video_eval.py: every rank records the state mmeff keeps
outside the optimizer (the Gumbel gates' temperature after each training iteration, the
norm-gate thresholds of each evaluation) and the metrics it returns, and after the run saves
them with the model's weights to ``<work_dir>/state_rank<RANK>.pth``, so the test can compare
the ranks."""
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from mmeff.converters.skipconv_calibration import norm_gate_layers
from mmeff.layers import GumbelGate


@HOOKS.register_module()
class RankStateHook(Hook):
    priority = 'LOWEST'

    def __init__(self):
        self.temperatures = []
        self.thresholds = []
        self.metrics = []

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        gates = [m for m in self._model(runner).modules() if isinstance(m, GumbelGate)]
        self.temperatures.append([gate.temperature for gate in gates])

    def _record_evaluation(self, runner, metrics) -> None:
        layers = norm_gate_layers(self._model(runner))
        self.thresholds.append({name: layer.gate.threshold for name, layer in layers.items()})
        self.metrics.append(metrics)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._record_evaluation(runner, metrics)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._record_evaluation(runner, metrics)

    def after_run(self, runner) -> None:
        torch.save(
            dict(weights=self._model(runner).state_dict(), temperatures=self.temperatures,
                 thresholds=self.thresholds, metrics=self.metrics),
            f'{runner.work_dir}/state_rank{get_rank()}.pth')
