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
from typing import List, Optional, Sequence, Tuple

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a (N, 4) and b (M, 4) -> (N, M)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-9)


class IoUTracker:
    """Online form of :func:`assign_tracks`: feed the boxes of one frame at a time.

    A box takes the track of the previous frame's box it overlaps most (greedy, highest IoU
    first, at least ``min_iou``); a box left unmatched starts a new track, and a track without
    a box in a frame has ended (:attr:`ended` lists the tracks that ended at the last update).
    """

    def __init__(self, min_iou: float = 0.3):
        if not 0 <= min_iou <= 1:
            raise ValueError(f'IoUTracker: min_iou must lie in [0, 1], got {min_iou}')
        self.min_iou = min_iou
        self.boxes = np.zeros((0, 4))
        self.ids: List[int] = []
        self.ended: List[int] = []
        self.next_id = 0

    def update(self, boxes: np.ndarray) -> List[int]:
        """Track ids (ints from 0, in order of first appearance) of ``boxes`` (K, 4)."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        current = [-1] * len(boxes)
        if len(boxes) and len(self.boxes):
            iou = box_iou(boxes, self.boxes)
            for flat in np.argsort(-iou, axis=None):
                i, j = np.unravel_index(flat, iou.shape)
                if iou[i, j] < self.min_iou:
                    break
                if current[i] < 0 and self.ids[j] not in current:
                    current[i] = self.ids[j]
        for i, track in enumerate(current):
            if track < 0:
                current[i], self.next_id = self.next_id, self.next_id + 1
        self.ended = [track for track in self.ids if track not in current]
        self.boxes, self.ids = boxes, current
        return current


def assign_tracks(frames: Sequence[np.ndarray], min_iou: float = 0.3) -> List[List[int]]:
    """Track ids for the boxes of each frame, in order (:class:`IoUTracker` over a video).

    Args:
        frames: per frame, the person boxes (K_t, 4) as (x1, y1, x2, y2).
        min_iou: the smallest IoU that links a box to the previous frame's box.

    Returns:
        per frame, K_t track ids (ints from 0, in order of first appearance).
    """
    tracker = IoUTracker(min_iou)
    return [tracker.update(boxes) for boxes in frames]


class StableCrop:
    """Online form of :func:`stable_crop_boxes` for one track: feed its box frame by frame.

    With ``aspect_ratio`` (width / height, the model input's), a new crop is also widened or
    heightened to that ratio, as the top-down affine transform would, so the person may move
    within all of the crop the model sees before it is re-cropped.
    """

    def __init__(self, margin: float = 1.25, aspect_ratio: Optional[float] = None):
        if margin < 1:
            raise ValueError(f'StableCrop: margin must be >= 1, got {margin}')
        if aspect_ratio is not None and not aspect_ratio > 0:
            raise ValueError(f'StableCrop: aspect_ratio must be > 0, got {aspect_ratio}')
        self.margin, self.aspect_ratio = margin, aspect_ratio
        self.crop: Optional[np.ndarray] = None  # (x1, y1, x2, y2)
        self.recropped = False  # whether the last update started a new crop

    def update(self, box: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """The crop of the frame whose person box is ``box`` (4,): centre (2,) and size (2,)."""
        box = np.asarray(box, dtype=np.float64).reshape(4)
        crop = self.crop
        self.recropped = crop is None or bool(
            (box[:2] < crop[:2]).any() or (box[2:] > crop[2:]).any())
        if self.recropped:
            center, size = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]) * self.margin
            if self.aspect_ratio is not None:
                size = np.maximum(size, [size[1] * self.aspect_ratio, size[0] / self.aspect_ratio])
            self.crop = crop = np.concatenate([center - size / 2, center + size / 2])
        return (crop[:2] + crop[2:]) / 2, crop[2:] - crop[:2]


def stable_crop_boxes(boxes: np.ndarray, margin: float = 1.25) -> Tuple[np.ndarray, np.ndarray]:
    """Stable crops of one track (module doc; :class:`StableCrop` over the track).

    Args:
        boxes: (T, 4) the person's box in each frame, in temporal order.
        margin: how much larger than the person's box a new crop is (>= 1).

    Returns:
        centers (T, 2) and sizes (T, 2) of each frame's crop.
    """
    cropper = StableCrop(margin)
    crops = [cropper.update(box) for box in np.asarray(boxes, dtype=np.float64).reshape(-1, 4)]
    if not crops:
        return np.zeros((0, 2)), np.zeros((0, 2))
    centers, sizes = zip(*crops)
    return np.stack(centers), np.stack(sizes)
