"""Synthetic videos for tests, demos and benchmarks (no datasets can be downloaded here).

Static textured backgrounds with articulated stick figures that walk across the frame, plus
the nuisances of real cameras: sensor noise, lighting flicker and optional camera shake. The
figures' keypoints are returned with the frames.
"""
import math
from dataclasses import dataclass
from typing import List, Tuple

import torch
from torch import Tensor

# A 15-joint skeleton: head, neck, shoulders, elbows, wrists, hips, knees, ankles, belly.
JOINTS = ('head', 'neck', 'l_shoulder', 'r_shoulder', 'l_elbow', 'r_elbow', 'l_wrist', 'r_wrist',
          'l_hip', 'r_hip', 'l_knee', 'r_knee', 'l_ankle', 'r_ankle', 'belly')
LIMBS = ((0, 1), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7), (1, 8), (1, 9), (8, 10), (9, 11),
         (10, 12), (11, 13), (1, 14))
#: Limbs of the figure's left side; they are drawn darker, so left and right are told apart.
LEFT_LIMBS = frozenset({(1, 2), (2, 4), (4, 6), (1, 8), (8, 10), (10, 12)})


@dataclass
class SyntheticVideoConfig:
    """Parameters of :func:`synthetic_video`; sizes in pixels, intensities in [0, 1]."""
    frames: int = 60
    height: int = 256
    width: int = 192
    figures: int = 1
    noise_std: float = 0.01
    flicker: float = 0.02  # amplitude of the global brightness oscillation
    shake: int = 0  # largest camera shift, in pixels
    max_speed: float = 1.0  # largest walking speed, in pixels per frame
    figure_scale: float = 0.35  # figure size (hip to neck is 0.7 of it) relative to the height
    crossing: bool = False  # figures walk across and leave/enter at the borders (no wrap-around)
    seed: int = 0


def _texture(height: int, width: int, g: torch.Generator) -> Tensor:
    """(3, H, W) smooth random texture: bilinear upsampling of coarse noise at three scales."""
    texture = torch.zeros(3, height, width)
    for cells, weight in ((4, 0.5), (16, 0.3), (64, 0.2)):
        coarse = torch.rand(1, 3, cells, max(cells * width // height, 1), generator=g)
        texture += weight * torch.nn.functional.interpolate(coarse, size=(height, width),
                                                            mode='bilinear', align_corners=False)[0]
    return texture


def _pose(t: int, center: Tuple[float, float], scale: float, phase: float) -> Tensor:
    """(15, 2) joint positions (x, y) of a walking figure at frame t (order of ``JOINTS``)."""
    swing = 0.6 * torch.sin(torch.tensor(0.25 * t + phase))
    cx, cy = center
    s = scale
    head, neck = (cx, cy - 0.9 * s), (cx, cy - 0.7 * s)
    shoulders = [(cx - 0.2 * s, cy - 0.65 * s), (cx + 0.2 * s, cy - 0.65 * s)]
    hips = [(cx - 0.12 * s, cy), (cx + 0.12 * s, cy)]
    joints = [head, neck, *shoulders]
    for side, sign in ((0, 1), (1, -1)):  # elbows
        sx, sy = shoulders[side]
        joints.append((sx + 0.25 * s * float(torch.sin(sign * swing)), sy + 0.25 * s))
    for side, sign in ((0, 1), (1, -1)):  # wrists
        ex, ey = joints[4 + side]
        joints.append((ex + 0.2 * s * float(torch.sin(sign * swing + 0.3)), ey + 0.2 * s))
    joints += hips
    for side, sign in ((0, -1), (1, 1)):  # knees
        hx, hy = hips[side]
        joints.append((hx + 0.3 * s * float(torch.sin(sign * swing)), hy + 0.35 * s))
    for knee, sign in ((10, -1), (11, 1)):  # ankles
        kx, ky = joints[knee]
        joints.append((kx + 0.2 * s * float(torch.sin(sign * swing + 0.4)), ky + 0.35 * s))
    joints.append((cx, cy - 0.35 * s))  # belly
    return torch.tensor(joints)


def _draw_limbs(frame: Tensor, joints: Tensor, color: Tensor, thickness: float) -> None:
    """Paint the skeleton's limbs into frame (3, H, W) in place."""
    h, w = frame.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing='ij')
    for side in (True, False):
        covered = torch.zeros(h, w, dtype=torch.bool)
        for a, b in (limb for limb in LIMBS if (limb in LEFT_LIMBS) == side):
            covered |= _limb_mask(xs, ys, joints[a], joints[b], thickness)
        frame[:, covered] = (color * 0.55 if side else color)[:, None]


def _limb_mask(xs: Tensor, ys: Tensor, p: Tensor, q: Tensor, thickness: float) -> Tensor:
    """Bool (H, W): pixels within ``thickness`` of the segment p-q."""
    d = q - p
    length2 = float((d * d).sum()) or 1.0
    u = (((xs - p[0]) * d[0] + (ys - p[1]) * d[1]) / length2).clamp(0, 1)
    return (xs - p[0] - u * d[0])**2 + (ys - p[1] - u * d[1])**2 <= thickness**2


def _crossing_paths(cfg: SyntheticVideoConfig, speeds: List[float], starts: List[Tuple[float,
                                                                                       float]]):
    """Start points and speeds of figures that cross a border of the frame during the video:
    figure k's centre crosses a border at frame (k + 0.5) T / figures, leaving for even k and
    entering for odd k, at between half and all of ``max_speed`` (the sign of its drawn speed
    sets the direction)."""
    new_starts, new_speeds = [], []
    for k, (speed, (_, y)) in enumerate(zip(speeds, starts)):
        speed = math.copysign(max(abs(speed), 0.5 * cfg.max_speed), speed or 1.0)
        leaving = k % 2 == 0
        border = cfg.width if (speed > 0) == leaving else 0.0
        crossing_frame = (k + 0.5) * cfg.frames / cfg.figures
        new_starts.append((border - speed * crossing_frame, y))
        new_speeds.append(speed)
    return new_starts, new_speeds


def synthetic_video(cfg: SyntheticVideoConfig = SyntheticVideoConfig()) -> Tuple[Tensor, Tensor]:
    """Render a video.

    With ``cfg.crossing`` the figures walk in straight lines, each leaving or entering the view
    once during the video; their keypoints lie outside the frame while they are out of view.

    Returns:
        frames: (T, 3, H, W) float32 in [0, 1].
        keypoints: (T, figures, 15, 2) joint positions (x, y) in pixels (before camera shake).
    """
    g = torch.Generator().manual_seed(cfg.seed)
    background = _texture(cfg.height, cfg.width, g)
    scale = cfg.figure_scale * cfg.height
    starts = [(float(torch.rand(1, generator=g)) * cfg.width * 0.6 + 0.2 * cfg.width,
               cfg.height * (0.55 + 0.1 * float(torch.rand(1, generator=g))))
              for _ in range(cfg.figures)]
    speeds = [
        float(torch.empty(1).uniform_(-cfg.max_speed, cfg.max_speed, generator=g))
        for _ in range(cfg.figures)
    ]
    colors = [torch.rand(3, generator=g) for _ in range(cfg.figures)]
    frames = torch.empty(cfg.frames, 3, cfg.height, cfg.width)
    keypoints = torch.empty(cfg.frames, cfg.figures, len(JOINTS), 2)
    if cfg.crossing:
        starts, speeds = _crossing_paths(cfg, speeds, starts)
    for t in range(cfg.frames):
        frame = background.clone()
        for k in range(cfg.figures):
            x = starts[k][0] + speeds[k] * t
            x = x if cfg.crossing else x % cfg.width
            joints = _pose(t, (x, starts[k][1]), scale, phase=1.3 * k)
            keypoints[t, k] = joints
            _draw_limbs(frame, joints, colors[k], thickness=0.03 * cfg.height)
        frame = frame * (1 + cfg.flicker * torch.sin(torch.tensor(0.7 * t)))
        if cfg.shake:
            dy, dx = torch.randint(-cfg.shake, cfg.shake + 1, (2, ), generator=g).tolist()
            frame = torch.roll(frame, shifts=(dy, dx), dims=(1, 2))
        frame += cfg.noise_std * torch.randn(frame.shape, generator=g)
        frames[t] = frame.clamp(0, 1)
    return frames, keypoints
