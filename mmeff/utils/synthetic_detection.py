"""A synthetic video object-detection dataset in COCO format (no datasets can be downloaded here).

Every video has a static textured background and a few solid shapes (squares, discs, triangles:
the classes) moving in straight lines and bouncing off the borders, plus sensor noise. The COCO
JSON follows the COCO-video convention: a ``videos`` list, and ``video_id`` / ``frame_id`` in
every image entry (``instance_id`` in every annotation), so the same file serves per-image
detection (mmdet's ``CocoDataset``, ``CocoMetric``) and per-video evaluation.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Tuple

import mmcv
import torch
from torch import Tensor

from .synthetic_video import _texture

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
    coco = dict(videos=[], images=[], annotations=[],
                categories=[dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)])
    for v in range(videos):
        video_id = v + 1
        seed = first_seed + v
        frames, boxes, labels = synthetic_detection_video(
            SyntheticDetectionConfig(**{
                **cfg.__dict__, 'seed': seed
            }))
        coco['videos'].append(dict(id=video_id, name=f'video_{seed:04d}'))
        pixels = (frames * 255).round().to(torch.uint8).permute(0, 2, 3, 1).flip(-1).numpy()
        for t in range(cfg.frames):
            image_id = len(coco['images']) + 1
            file_name = f'{split}/video_{seed:04d}/{t:04d}.png'
            mmcv.imwrite(pixels[t], osp.join(root, file_name))  # BGR
            coco['images'].append(
                dict(id=image_id, file_name=file_name, height=cfg.height, width=cfg.width,
                     video_id=video_id, frame_id=t))
            for k in range(cfg.objects):
                x1, y1, x2, y2 = boxes[t, k].tolist()
                coco['annotations'].append(
                    dict(id=len(coco['annotations']) + 1, image_id=image_id,
                         category_id=int(labels[k]) + 1, bbox=[x1, y1, x2 - x1, y2 - y1],
                         area=(x2 - x1) * (y2 - y1), iscrowd=0, instance_id=video_id * 100 + k))
    path = osp.join(root, 'annotations', f'{split}.json')
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(coco, f)
    return path
