"""NormGateCalibrationHook: thresholds from the first frames of the run's dataset."""
import tempfile
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
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


def calibrate_on_rank(rank: int, init_file: str, thresholds) -> None:
    torch_dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                                  world_size=2)
    torch.manual_seed(0)
    model = TinyVideoModel().eval()
    frames = [(1 + rank) * torch.rand(1, 8, 8) for _ in range(2)]  # each rank measures its own
    NormGateCalibrationHook(relative=0.5, num_frames=2).before_val(runner_on(model, frames, []))
    norm = measure_window_norms(model, [f[None] for f in frames], model.skip)['skip']
    thresholds[rank] = (model.skip.gate.threshold, 0.5 * norm)
    torch_dist.destroy_process_group()


@pytest.mark.slow
def test_every_rank_takes_rank_0s_thresholds():
    with tempfile.TemporaryDirectory() as tmp:
        thresholds = mp.Manager().dict()
        mp.spawn(calibrate_on_rank, args=(f'{tmp}/init', thresholds), nprocs=2)
    (held0, own0), (held1, own1) = thresholds[0], thresholds[1]
    assert own1 != pytest.approx(own0)  # the ranks measured different thresholds
    assert held0 == held1 == pytest.approx(own0, rel=1e-5)
