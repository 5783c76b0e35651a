"""``NormGateCalibrationHook``: per-layer norm-gate thresholds before validation and test."""
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from ..converters.skipconv_calibration import calibrate_norm_gates


@HOOKS.register_module()
class NormGateCalibrationHook(Hook):
    """Calibrates SkipConv norm gates (:func:`mmeff.converters.calibrate_norm_gates`).

    Before every validation and test run it feeds the first ``num_frames`` samples of that
    run's dataset (images only; labels are not used) through the model's data preprocessor and
    ``model(inputs, data_samples, mode='tensor')``, and sets each norm gate's threshold to
    ``relative`` times its layer's mean window L1 norm.

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
        model = runner.model
        dataset = dataloader.dataset
        samples = [dataset[i] for i in range(min(self.num_frames, len(dataset)))]

        def forward(sample):
            data = model.data_preprocessor(pseudo_collate([sample]), False)
            model(data['inputs'], data['data_samples'], mode='tensor')

        thresholds = calibrate_norm_gates(model, samples, self.relative, forward)
        values = sorted(thresholds.values())
        print_log(
            f'NormGateCalibrationHook: {len(values)} norm gates at relative '
            f'{self.relative}: thresholds {values[0]:.3g} .. {values[-1]:.3g}', logger='current')

    def before_val(self, runner) -> None:
        self._calibrate(runner, runner.val_loop.dataloader)

    def before_test(self, runner) -> None:
        self._calibrate(runner, runner.test_loop.dataloader)
