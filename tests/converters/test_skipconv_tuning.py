"""tune_norm_gates: per-group thresholds fitted to a MAC budget against the exact outputs."""
import copy

import pytest
import torch
from torch import nn

import mmeff
from mmeff.converters import relative_l2_error, tune_norm_gates
from mmeff.converters.skipconv_tuning import run_frames
from mmeff.layers import SkipConv2d


def dense_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 4, 1)).eval()


def noisy_video(frames=8, size=32, seed=0):
    """A static background, a square moving 2 px per frame, sensor noise."""
    g = torch.Generator().manual_seed(seed)
    background = torch.rand(1, 3, size, size, generator=g)
    video = []
    for t in range(frames):
        frame = background.clone()
        frame[..., 8:16, 2 + 2 * t:10 + 2 * t] = 1.0
        video.append(frame + 0.02 * torch.randn(frame.shape, generator=g))
    return video


def test_budget_is_met_and_groups_share_one_relative_threshold():
    dense = dense_model()
    model = mmeff.convert_to_skipconv(copy.deepcopy(dense), gate=dict(type='InputNormGate',
                                                                      block_size=2))
    video = noisy_video()
    result = tune_norm_gates(model, video, max_share=0.5)
    shares = [step.mac_share for step in result.steps]
    assert shares[-1] <= 0.5 < shares[0]
    assert all(later < earlier for earlier, later in zip(shares, shares[1:]))
    # two resolutions: 32x32 inputs (layers 0, 2, 4) and 16x16 (layer 6)
    assert result.groups == {'0': (32, 32), '2': (32, 32), '4': (32, 32), '6': (16, 16)}
    assert set(result.thresholds) == set(result.groups)
    for name, threshold in result.thresholds.items():
        assert model.get_submodule(name).gate.threshold == threshold > 0
    # the final state is the model's: rerunning it reproduces the share, and its error is
    # measured against the unconverted model
    outputs, share = run_frames(model, video, model)
    assert share == pytest.approx(result.final.mac_share)
    with torch.no_grad():
        exact = [dense(frame) for frame in video]
    assert relative_l2_error(outputs, exact) == pytest.approx(result.final.error, rel=1e-4)
    assert not any(len(m.own_stream()) for m in model.modules() if isinstance(m, SkipConv2d))


@pytest.mark.slow
def test_tuner_keeps_error_at_or_below_a_uniform_threshold_of_no_fewer_macs():
    """The greedy allocation against the uniform relative threshold that first fits the
    same budget (searched by doubling from the same start)."""
    dense = dense_model()
    video = noisy_video(frames=10)
    tuned = mmeff.convert_to_skipconv(copy.deepcopy(dense), gate=dict(type='InputNormGate',
                                                                      block_size=2))
    result = tune_norm_gates(tuned, video, max_share=0.4, group_of=lambda name, hw: name)
    uniform = mmeff.convert_to_skipconv(copy.deepcopy(dense),
                                        gate=dict(type='InputNormGate', block_size=2))
    relative = 0.01
    while True:
        step = tune_norm_gates(uniform, video, max_share=1.0, start=relative).final
        if step.mac_share <= result.final.mac_share or relative > 100:
            break
        relative *= 2
    assert step.mac_share <= result.final.mac_share
    assert result.final.error <= step.error


def test_full_budget_keeps_the_start_and_bad_arguments_are_rejected():
    model = mmeff.convert_to_skipconv(dense_model(), gate=dict(type='InputNormGate', block_size=4))
    video = noisy_video(frames=3)
    model.train()
    result = tune_norm_gates(model, video, max_share=1.0, start=0.05)
    assert len(result.steps) == 1 and set(result.final.relative.values()) == {0.05}
    assert model.training  # mode restored
    for kwargs, match in ((dict(max_share=0.0), 'max_share'), (dict(max_share=1.5), 'max_share'),
                          (dict(max_share=0.5,
                                start=0.0), 'start'), (dict(max_share=0.5, factor=1.0), 'factor')):
        with pytest.raises(ValueError, match=match):
            tune_norm_gates(model, video, **kwargs)
    with pytest.raises(ValueError, match='no calibration frames'):
        tune_norm_gates(model, [], max_share=0.5)


def test_a_failed_tuning_leaves_the_thresholds_as_they_were():
    model = mmeff.convert_to_skipconv(dense_model(), gate=dict(type='InputNormGate', threshold=0.3,
                                                               block_size=2))

    def failing_error(outputs, exact):
        raise RuntimeError('metric failed')

    with pytest.raises(RuntimeError, match='metric failed'):
        tune_norm_gates(model, noisy_video(frames=3), max_share=0.5, error=failing_error)
    assert {m.gate.threshold for m in model.modules() if isinstance(m, SkipConv2d)} == {0.3}
