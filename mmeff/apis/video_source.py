"""The frames a video pose pipeline runs on: a video file, or the synthetic clip whose true
keypoints let both pose models be scored (three walking figures, one leaving the view and one
entering it)."""
from dataclasses import dataclass
from typing import List, Optional

import cv2
import numpy as np
import torch

from ..pose import box_iou
from ..utils import SyntheticVideoConfig, people_boxes, synthetic_video
from ..utils.synthetic_pose_dataset import JHMDB_FROM_SYNTHETIC

SYNTHETIC_SPEED = 1.5  # walking speed of the synthetic clip's figures, pixels per frame


@dataclass
class Video:
    """Frames (BGR uint8) and, for a synthetic clip, the true keypoints of every figure."""
    frames: List[np.ndarray]
    keypoints: Optional[np.ndarray] = None  # (T, figures, K, 2) ground truth
    fps: float = 15.0


def synthetic_clip(frames: int, seed: int = 1) -> Video:
    """The first ``frames`` frames of a clip of at least 60 frames: three walking figures on a
    static textured background, the first leaving the view at frame 10, the second entering at
    frame 30 and the third leaving at frame 50 (``SyntheticVideoConfig.crossing``)."""
    cfg = SyntheticVideoConfig(frames=max(frames, 60), height=240, width=320, figures=3,
                               max_speed=SYNTHETIC_SPEED, figure_scale=0.3, crossing=True,
                               seed=seed)
    video, keypoints = synthetic_video(cfg)
    bgr = [(f.permute(1, 2, 0).numpy()[..., ::-1] * 255).round().astype(np.uint8).copy()
           for f in video[:frames]]
    return Video(bgr, keypoints[:frames, :, list(JHMDB_FROM_SYNTHETIC)].numpy())


def read_video(path: str, max_frames: int) -> Video:
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise FileNotFoundError(f'video_demo: cannot open video {path!r}')
    fps = capture.get(cv2.CAP_PROP_FPS) or 15.0
    frames = []
    while len(frames) < max_frames:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise ValueError(f'video_demo: {path!r} has no frames')
    return Video(frames, fps=fps)


def true_figure(keypoints: np.ndarray, box: np.ndarray, height: int, width: int) -> Optional[int]:
    """The synthetic figure whose true box overlaps the detected ``box`` most (IoU >= 0.5), if
    all its keypoints are in view, else None. ``keypoints``: (figures, K, 2) of the frame."""
    truth = people_boxes(torch.from_numpy(keypoints[None]), height, width)[0]
    if not truth:
        return None
    iou = box_iou(box[None], np.array([b for b, _ in truth]))[0]
    figure = truth[int(iou.argmax())][1]
    x, y = keypoints[figure, :, 0], keypoints[figure, :, 1]
    in_view = (x >= 0).all() and (x < width).all() and (y >= 0).all() and (y < height).all()
    return figure if iou.max() >= 0.5 and in_view else None
