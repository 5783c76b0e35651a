"""``NormGateCalibrationHook``: per-layer norm-gate thresholds before validation and test."""
from typing import Dict

from mmengine.dataset import pseudo_collate
from mmengine.dist import broadcast_object_list, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from torch import nn

from ..converters.skipconv_calibration import calibrate_norm_gates, norm_gate_layers


def broadcast_thresholds(model: nn.Module, thresholds: Dict[str, float]) -> Dict[str, float]:
    """Set rank 0's norm-gate thresholds (layer name -> threshold) on every rank's ``model``
    and return them; in one process, ``thresholds`` unchanged."""
    if get_world_size() == 1:
        return thresholds
    shared = [thresholds]
    broadcast_object_list(shared, src=0)
    layers = norm_gate_layers(model)
    if set(shared[0]) != set(layers):
        raise ValueError('NormGateCalibrationHook: rank 0 calibrated other norm-gated layers '
                         'than this rank holds')
    for name, threshold in shared[0].items():
        layers[name].gate.threshold = threshold
    return shared[0]


@HOOKS.register_module()
class NormGateCalibrationHook(Hook):
    """Calibrates SkipConv norm gates (:func:`mmeff.converters.calibrate_norm_gates`).

    Before every validation and test run it feeds the first ``num_frames`` samples of that
    run's dataset (images only; labels are not used) through the model's data preprocessor and
    ``model(inputs, data_samples, mode='tensor')``, and sets each norm gate's threshold to
    ``relative`` times its layer's mean window L1 norm. Under several processes every rank
    measures on the same frames and then takes rank 0's thresholds, so all ranks hold the same.

    Args:
        relative: the threshold relative to each layer's window norm.
        num_frames: how many samples to measure on.
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self, relative: float = 0.05, num_frames: int = 8):
        if relative < 0 or num_frames < 1:
            raise ValueError('NormGateCalibrationHook: need relative >= 0 and num_frames >= 1, '
                             f'got {relative}, {num_frames}')
        self.relative = float(relative)
        self.num_frames = int(num_frames)

    def _calibrate(self, runner, dataloader) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        dataset = dataloader.dataset
        samples = [dataset[i] for i in range(min(self.num_frames, len(dataset)))]

        def forward(sample):
            data = model.data_preprocessor(pseudo_collate([sample]), False)
            model(data['inputs'], data['data_samples'], mode='tensor')

        thresholds = broadcast_thresholds(
            model, calibrate_norm_gates(model, samples, self.relative, forward))
        values = sorted(thresholds.values())
        print_log(
            f'NormGateCalibrationHook: {len(values)} norm gates at relative '
            f'{self.relative}: thresholds {values[0]:.3g} .. {values[-1]:.3g}', logger='current')

    def before_val(self, runner) -> None:
        self._calibrate(runner, runner.val_loop.dataloader)

    def before_test(self, runner) -> None:
        self._calibrate(runner, runner.test_loop.dataloader)
