"""A synthetic video object-detection dataset in COCO format (no datasets can be downloaded here).

Every video has a static textured background and a few solid shapes (squares, discs, triangles:
the classes) moving in straight lines and bouncing off the borders, plus sensor noise. The COCO
JSON follows the COCO-video convention: a ``videos`` list, and ``video_id`` / ``frame_id`` in
every image entry (``instance_id`` in every annotation), so the same file serves per-image
detection (mmdet's ``CocoDataset``, ``CocoMetric``) and per-video evaluation.

:func:`write_synthetic_people` writes the walking figures of :func:`~mmeff.utils.synthetic_video`
in the same layout as a one-class person-detection set: the person detector of the video demo.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import mmcv
import torch
from torch import Tensor

from .synthetic_video import SyntheticVideoConfig, _texture, synthetic_video

CLASSES = ('square', 'disc', 'triangle')


@dataclass
class SyntheticDetectionConfig:
    """Parameters of one video of :func:`synthetic_detection_video`; sizes in pixels."""
    frames: int = 16
    height: int = 128
    width: int = 128
    objects: int = 2
    min_size: float = 0.15  # object side / min(height, width)
    max_size: float = 0.35
    max_speed: float = 3.0  # pixels per frame
    noise_std: float = 0.01  # sensor noise, intensities in [0, 1]
    seed: int = 0


def _shape_mask(kind: int, cx: float, cy: float, r: float, ys: Tensor, xs: Tensor) -> Tensor:
    """(H, W) bool mask of shape ``kind`` (index into CLASSES) with half-size ``r``."""
    if CLASSES[kind] == 'square':
        return ((xs - cx).abs() <= r) & ((ys - cy).abs() <= r)
    if CLASSES[kind] == 'disc':
        return (xs - cx)**2 + (ys - cy)**2 <= r * r
    # triangle: apex at the top, base at the bottom of the box
    inside_y = (ys >= cy - r) & (ys <= cy + r)
    half_width = (ys - (cy - r)) / 2
    return inside_y & ((xs - cx).abs() <= half_width)


def synthetic_detection_video(cfg: SyntheticDetectionConfig) -> Tuple[Tensor, Tensor, Tensor]:
    """Render one video.

    Returns:
        frames: (T, 3, H, W) float32 in [0, 1].
        boxes: (T, K, 4) boxes (x1, y1, x2, y2) in pixels of the K objects.
        labels: (K,) class indices into CLASSES.
    """
    g = torch.Generator().manual_seed(cfg.seed)
    h, w = cfg.height, cfg.width
    background = _texture(h, w, g)
    side = min(h, w)
    radius = (cfg.min_size + (cfg.max_size - cfg.min_size) * torch.rand(cfg.objects, generator=g))
    radius = radius * side / 2
    center = torch.stack([
        radius + torch.rand(cfg.objects, generator=g) *
        (w - 2 * radius), radius + torch.rand(cfg.objects, generator=g) * (h - 2 * radius)
    ], 1)
    velocity = (torch.rand(cfg.objects, 2, generator=g) * 2 - 1) * cfg.max_speed
    labels = torch.randint(len(CLASSES), (cfg.objects, ), generator=g)
    colors = 0.15 + 0.85 * torch.rand(cfg.objects, 3, generator=g)
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float32) + 0.5,
        torch.arange(w, dtype=torch.float32) + 0.5, indexing='ij')
    frames = torch.empty(cfg.frames, 3, h, w)
    boxes = torch.empty(cfg.frames, cfg.objects, 4)
    low, high = radius[:, None], torch.tensor([w, h]) - radius[:, None]
    for t in range(cfg.frames):
        frame = background.clone()
        for k in range(cfg.objects):
            cx, cy, r = float(center[k, 0]), float(center[k, 1]), float(radius[k])
            frame[:, _shape_mask(int(labels[k]), cx, cy, r, ys, xs)] = colors[k, :, None]
            boxes[t, k] = torch.tensor([cx - r, cy - r, cx + r, cy + r])
        frames[t] = (frame + cfg.noise_std * torch.randn(frame.shape, generator=g)).clamp(0, 1)
        # move, bouncing off the borders
        center += velocity
        bounced = (center < low) | (center > high)
        velocity[bounced] = -velocity[bounced]
        center = torch.minimum(torch.maximum(center, low), high)
    return frames, boxes.clamp(min=0), labels


def write_synthetic_detection(root: str, split: str, videos: int, cfg: SyntheticDetectionConfig,
                              first_seed: int = 0) -> str:
    """Render ``videos`` videos (seeds ``first_seed`` + i) as PNG frames and a COCO JSON.

    Writes ``root/<split>/<video>/<frame>.png`` and ``root/annotations/<split>.json`` (image
    paths relative to ``root``); returns the JSON's path.
    """
    coco = _empty_coco(CLASSES)
    for seed in range(first_seed, first_seed + videos):
        frames, boxes, labels = synthetic_detection_video(
            SyntheticDetectionConfig(**{
                **cfg.__dict__, 'seed': seed
            }))
        objects = [[(boxes[t, k].tolist(), int(labels[k]), k) for k in range(cfg.objects)]
                   for t in range(cfg.frames)]
        _add_video(coco, root, split, seed, frames, objects)
    return _write_coco(coco, root, split)


def people_boxes(keypoints: Tensor, height: int, width: int,
                 min_visible: float = 0.3) -> List[List[Tuple[List[float], int]]]:
    """Person boxes of :func:`~mmeff.utils.synthetic_video` figures, per frame.

    A figure's box encloses its keypoints plus the limbs' thickness (3 % of the frame height),
    clipped to the frame; a figure with less than ``min_visible`` of its box inside the frame
    has none.

    Args:
        keypoints: (T, figures, J, 2) joint positions (x, y) in pixels.

    Returns:
        per frame, a list of (box (x1, y1, x2, y2), figure index).
    """
    margin = 0.03 * height
    low, high = keypoints.amin(2) - margin, keypoints.amax(2) + margin  # (T, figures, 2)
    area = (high - low).prod(-1)
    clipped_low = low.clamp(min=0)
    clipped_high = torch.minimum(high, torch.tensor([float(width), float(height)]))
    visible = (clipped_high - clipped_low).clamp(min=0).prod(-1)
    return [[(clipped_low[t, k].tolist() + clipped_high[t, k].tolist(), k)
             for k in range(keypoints.shape[1]) if visible[t, k] >= min_visible * area[t, k]]
            for t in range(keypoints.shape[0])]


def write_synthetic_people(root: str, split: str, videos: int, cfg: SyntheticVideoConfig,
                           first_seed: int = 0) -> str:
    """Render ``videos`` walking-figure videos (:func:`~mmeff.utils.synthetic_video`, seeds
    ``first_seed`` + i, every other one with ``crossing``) as a COCO person-detection set in the
    layout of :func:`write_synthetic_detection` (one class, ``person``; boxes of
    :func:`people_boxes`)."""
    coco = _empty_coco(('person', ))
    for i, seed in enumerate(range(first_seed, first_seed + videos)):
        video_cfg = SyntheticVideoConfig(**{**cfg.__dict__, 'seed': seed, 'crossing': i % 2 == 1})
        frames, keypoints = synthetic_video(video_cfg)
        objects = [[(box, 0, k) for box, k in frame]
                   for frame in people_boxes(keypoints, cfg.height, cfg.width)]
        _add_video(coco, root, split, seed, frames, objects)
    return _write_coco(coco, root, split)


def _empty_coco(classes: Sequence[str]) -> dict:
    return dict(videos=[], images=[], annotations=[],
                categories=[dict(id=i + 1, name=name) for i, name in enumerate(classes)])


def _add_video(coco: dict, root: str, split: str, seed: int, frames: Tensor,
               objects: List[List[Tuple[List[float], int, int]]]) -> None:
    """Write the frames (T, 3, H, W) of video ``seed`` as PNGs and add them to ``coco``, with
    per frame the objects (box (x1, y1, x2, y2), class index, instance index)."""
    video_id = len(coco['videos']) + 1
    coco['videos'].append(dict(id=video_id, name=f'video_{seed:04d}'))
    height, width = frames.shape[-2:]
    pixels = (frames * 255).round().to(torch.uint8).permute(0, 2, 3, 1).flip(-1).numpy()
    for t, frame_objects in enumerate(objects):
        image_id = len(coco['images']) + 1
        file_name = f'{split}/video_{seed:04d}/{t:04d}.png'
        mmcv.imwrite(pixels[t], osp.join(root, file_name))  # BGR
        coco['images'].append(
            dict(id=image_id, file_name=file_name, height=height, width=width, video_id=video_id,
                 frame_id=t))
        for (x1, y1, x2, y2), label, instance in frame_objects:
            coco['annotations'].append(
                dict(id=len(coco['annotations']) + 1, image_id=image_id, category_id=label + 1,
                     bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1), iscrowd=0,
                     instance_id=video_id * 100 + instance))


def _write_coco(coco: dict, root: str, split: str) -> str:
    path = osp.join(root, 'annotations', f'{split}.json')
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(coco, f)
    return path
