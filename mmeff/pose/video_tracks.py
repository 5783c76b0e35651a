"""Tracks and stable crop boxes for top-down pose on video (numpy only).

**Tracks.** mmpose's datasets keep no track ids, so :func:`assign_tracks` links the person boxes
of consecutive frames of a video greedily by IoU (highest first, at least ``min_iou``); a box
left unmatched starts a new track.

**Stable crops.** Top-down pose crops every person from every frame. Cropping each frame at
that frame's box moves the crop with the person, so the static background moves inside the
crop and every SkipConv block changes. :func:`stable_crop_boxes` keeps one crop per track
instead and re-crops only when the person leaves it:

* the first frame's crop is the person's box enlarged ``margin`` times about its centre;
* a later frame keeps the current crop while the person's box lies inside it, and otherwise
  starts a new crop the same way from that frame's box.

Boxes are (x1, y1, x2, y2). The crop is returned as (centre, size) in the format of mmpose's
``bbox_center`` / ``bbox_scale``, before ``GetBBoxCenterScale``'s padding (which still applies).
"""
from typing import List, Sequence, Tuple

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a (N, 4) and b (M, 4) -> (N, M)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-9)


def assign_tracks(frames: Sequence[np.ndarray], min_iou: float = 0.3) -> List[List[int]]:
    """Track ids for the boxes of each frame, in order.

    Args:
        frames: per frame, the person boxes (K_t, 4) as (x1, y1, x2, y2).
        min_iou: the smallest IoU that links a box to the previous frame's box.

    Returns:
        per frame, K_t track ids (ints from 0, in order of first appearance).
    """
    ids: List[List[int]] = []
    previous, previous_ids, next_id = np.zeros((0, 4)), [], 0
    for boxes in frames:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        current = [-1] * len(boxes)
        if len(boxes) and len(previous):
            iou = box_iou(boxes, previous)
            for flat in np.argsort(-iou, axis=None):
                i, j = np.unravel_index(flat, iou.shape)
                if iou[i, j] < min_iou:
                    break
                if current[i] < 0 and previous_ids[j] not in current:
                    current[i] = previous_ids[j]
        for i, track in enumerate(current):
            if track < 0:
                current[i], next_id = next_id, next_id + 1
        ids.append(current)
        previous, previous_ids = boxes, current
    return ids


def stable_crop_boxes(boxes: np.ndarray, margin: float = 1.25) -> Tuple[np.ndarray, np.ndarray]:
    """Stable crops of one track (module doc).

    Args:
        boxes: (T, 4) the person's box in each frame, in temporal order.
        margin: how much larger than the person's box a new crop is (>= 1).

    Returns:
        centers (T, 2) and sizes (T, 2) of each frame's crop.
    """
    if margin < 1:
        raise ValueError(f'stable_crop_boxes: margin must be >= 1, got {margin}')
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    centers, sizes = np.zeros((len(boxes), 2)), np.zeros((len(boxes), 2))
    crop = None
    for t, box in enumerate(boxes):
        if crop is None or (box[:2] < crop[:2]).any() or (box[2:] > crop[2:]).any():
            center, half = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]) * margin / 2
            crop = np.concatenate([center - half, center + half])
        centers[t], sizes[t] = (crop[:2] + crop[2:]) / 2, crop[2:] - crop[:2]
    return centers, sizes
