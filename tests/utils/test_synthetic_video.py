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


def test_crossing_figures_leave_and_enter_once():
    cfg = SyntheticVideoConfig(frames=40, height=64, width=96, figures=2, max_speed=3.0,
                               crossing=True, seed=3)
    _, keypoints = synthetic_video(cfg)
    centre_x = keypoints[..., JOINTS.index('belly'), 0]  # (T, figures)
    in_view = ((centre_x > 0) & (centre_x < cfg.width)).T.int()
    changes = in_view.diff(dim=1)
    assert (changes.abs().sum(1) == 1).all()  # each figure crosses a border exactly once
    assert changes[0].sum() == -1 and changes[1].sum() == 1  # figure 0 leaves, figure 1 enters
    first_changed = [int(c.nonzero()) + 1 for c in changes]
    assert first_changed[0] in (10, 11) and first_changed[1] in (30, 31)  # at (k + 0.5) T / 2
