"""The synthetic video generator: shapes, determinism, static background, moving figures."""
import torch

from mmeff.utils import JOINTS, SyntheticVideoConfig, synthetic_video


def test_shapes_range_and_determinism():
    cfg = SyntheticVideoConfig(frames=6, height=64, width=48, figures=2, seed=3)
    frames, keypoints = synthetic_video(cfg)
    assert frames.shape == (6, 3, 64, 48) and keypoints.shape == (6, 2, len(JOINTS), 2)
    assert frames.min() >= 0 and frames.max() <= 1
    again, _ = synthetic_video(cfg)
    assert torch.equal(frames, again)


def test_background_is_static_and_figures_move():
    cfg = SyntheticVideoConfig(frames=10, height=64, width=48, noise_std=0.0, flicker=0.0)
    frames, keypoints = synthetic_video(cfg)
    changed = (frames[1:] != frames[:-1]).any(dim=1)  # (T-1, H, W)
    assert 0 < changed.float().mean() < 0.3  # only around the figure
    assert (keypoints[1:] != keypoints[:-1]).any()


def test_noise_flicker_and_shake_change_every_frame():
    cfg = SyntheticVideoConfig(frames=4, height=32, width=32, shake=2, seed=1)
    frames, _ = synthetic_video(cfg)
    assert ((frames[1:] - frames[:-1]).abs() > 0).float().mean() > 0.9
