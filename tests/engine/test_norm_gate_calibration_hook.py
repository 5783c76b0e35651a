"""NormGateCalibrationHook: thresholds from the first frames of the run's dataset."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.model import BaseModel

from mmeff.converters import measure_window_norms
from mmeff.engine import NormGateCalibrationHook
from mmeff.layers import SkipConv2d
from tests.engine.video_model import TinyVideoModel, frame_dataset


def runner_on(model, val_frames, test_frames):
    loop = lambda frames: SimpleNamespace(dataloader=SimpleNamespace(  # noqa: E731
        dataset=frame_dataset(frames)))
    return SimpleNamespace(model=model, val_loop=loop(val_frames), test_loop=loop(test_frames))


def test_thresholds_are_relative_to_the_window_norms_of_the_first_frames():
    torch.manual_seed(0)
    model = TinyVideoModel().eval()
    val = [torch.rand(1, 8, 8) for _ in range(3)]
    test = [10 * torch.rand(1, 8, 8) for _ in range(3)]
    runner = runner_on(model, val, test)
    hook = NormGateCalibrationHook(relative=0.5, num_frames=2)
    for stage, frames in (('val', val), ('test', test)):
        getattr(hook, f'before_{stage}')(runner)
        norm = measure_window_norms(model, [f[None] for f in frames[:2]], model.skip)['skip']
        assert model.skip.gate.threshold == pytest.approx(0.5 * norm, rel=1e-5)
    assert model.training is False


def test_arguments_and_models_without_norm_gates_are_rejected():
    with pytest.raises(ValueError, match='relative >= 0 and num_frames >= 1'):
        NormGateCalibrationHook(relative=-0.1)
    with pytest.raises(ValueError, match='relative >= 0 and num_frames >= 1'):
        NormGateCalibrationHook(num_frames=0)

    class Dense(BaseModel):

        def __init__(self):
            super().__init__()
            self.conv = SkipConv2d(1, 1, 3, gate=dict(type='GumbelGate', block_size=4))

        def forward(self, inputs, data_samples=None, mode='tensor'):
            return self.conv(torch.stack(inputs))

    runner = runner_on(Dense().eval(), [torch.rand(1, 8, 8)], [])
    with pytest.raises(ValueError, match='no SkipConv2d with a norm gate'):
        NormGateCalibrationHook().before_val(runner)
