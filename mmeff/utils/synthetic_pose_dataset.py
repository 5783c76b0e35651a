"""Write synthetic walking-figure videos as a pose dataset in JHMDB's annotation format.

The layout is the one mmpose's ``JhmdbDataset`` reads (``configs/_base_/datasets/jhmdb.py``):

    <root>/Frames/<video>/00001.png, 00002.png, ...       frames (BGR PNG)
    <root>/annotations/Sub1_<split>.json                    COCO-style, one person per frame

Keypoints follow sub-JHMDB's 15-joint order (:data:`JHMDB_JOINTS`) and, like JHMDB's, are
1-based (x, y, v); boxes are 1-based [x, y, w, h]. A joint outside the frame has v = 0.
"""
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import torch

from .synthetic_video import JOINTS, SyntheticVideoConfig, synthetic_video

#: sub-JHMDB's keypoint order (mmpose ``JhmdbDataset``).
JHMDB_JOINTS = ('neck', 'belly', 'head', 'r_shoulder', 'l_shoulder', 'r_hip', 'l_hip', 'r_elbow',
                'l_elbow', 'r_knee', 'l_knee', 'r_wrist', 'l_wrist', 'r_ankle', 'l_ankle')
JHMDB_FROM_SYNTHETIC = tuple(JOINTS.index(name) for name in JHMDB_JOINTS)


@dataclass
class SyntheticPoseDatasetConfig:
    """What :func:`write_jhmdb_dataset` renders; each video gets its own seed and figure size."""
    videos: Dict[str, int]  # split name -> number of videos
    frames: int = 30  # per video
    height: int = 120
    width: int = 160
    noise_std: float = 0.01
    flicker: float = 0.02
    shake: int = 0
    max_speed: float = 0.5
    figure_scales: tuple = (0.28, 0.4)  # uniform range of SyntheticVideoConfig.figure_scale
    seed: int = 0


def _annotation(keypoints: np.ndarray, height: int, width: int, thickness: float) -> dict:
    """keypoints (15, 2) 0-based -> JHMDB's 1-based keypoints/visibility and box."""
    inside = (keypoints[:, 0] >= 0) & (keypoints[:, 0] <= width - 1) & \
        (keypoints[:, 1] >= 0) & (keypoints[:, 1] <= height - 1)
    seen = keypoints[inside]
    x1, y1 = np.clip(seen.min(0) - thickness, 0, None)
    x2, y2 = np.minimum(seen.max(0) + thickness, (width - 1, height - 1))
    flat = np.concatenate([keypoints + 1, inside[:, None].astype(np.float64)], 1)
    flat[~inside, :2] = 0
    return dict(keypoints=[round(float(v), 2) for v in flat.reshape(-1)],
                num_keypoints=int(inside.sum()),
                bbox=[round(float(v), 2) for v in (x1 + 1, y1 + 1, x2 - x1, y2 - y1)], area=float(
                    (x2 - x1) * (y2 - y1)), iscrowd=0, category_id=1)


def write_jhmdb_dataset(root: str, cfg: SyntheticPoseDatasetConfig) -> Dict[str, Path]:
    """Render the videos and write frames and annotations; returns split -> annotation file."""
    root_path = Path(root)
    (root_path / 'annotations').mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(cfg.seed)
    files, image_id, ann_id = {}, 1, 1
    for split, count in cfg.videos.items():
        images: List[dict] = []
        annotations: List[dict] = []
        for v in range(count):
            lo, hi = cfg.figure_scales
            video_cfg = SyntheticVideoConfig(
                frames=cfg.frames, height=cfg.height, width=cfg.width, figures=1,
                noise_std=cfg.noise_std, flicker=cfg.flicker, shake=cfg.shake,
                max_speed=cfg.max_speed,
                figure_scale=lo + (hi - lo) * float(torch.rand(1, generator=g)),
                seed=int(torch.randint(0, 2**31 - 1, (1, ), generator=g)))
            frames, keypoints = synthetic_video(video_cfg)
            video = f'{split}_{v:03d}'
            (root_path / 'Frames' / video).mkdir(parents=True, exist_ok=True)
            for t in range(cfg.frames):
                file_name = f'Frames/{video}/{t + 1:05d}.png'
                rgb = (frames[t].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                cv2.imwrite(str(root_path / file_name), rgb[..., ::-1])
                images.append(
                    dict(id=image_id, file_name=file_name, height=cfg.height, width=cfg.width))
                joints = keypoints[t, 0].numpy()[list(JHMDB_FROM_SYNTHETIC)].astype(np.float64)
                ann = _annotation(joints, cfg.height, cfg.width, 0.03 * cfg.height)
                annotations.append(dict(ann, id=ann_id, image_id=image_id))
                image_id += 1
                ann_id += 1
        files[split] = root_path / 'annotations' / f'Sub1_{split}.json'
        files[split].write_text(
            json.dumps(
                dict(
                    images=images, annotations=annotations, categories=[
                        dict(id=1, name='person', supercategory='person',
                             keypoints=list(JHMDB_JOINTS))
                    ])))
    return files


def default_dataset_config(**overrides) -> SyntheticPoseDatasetConfig:
    """The small dataset of the synthetic configs, tests and the demo."""
    return replace(SyntheticPoseDatasetConfig(videos=dict(train=24, test=4)), **overrides)
