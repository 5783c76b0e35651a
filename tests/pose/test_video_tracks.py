"""Tracks by IoU and stable crop boxes."""
import numpy as np
import pytest

from mmeff.pose import assign_tracks, box_iou, stable_crop_boxes


def test_box_iou():
    a = np.array([[0, 0, 10, 10]], dtype=float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], dtype=float)
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 50 / 150, 0.0]])


def test_assign_tracks_follows_moving_people_and_starts_new_tracks():
    frames = [
        np.array([[0, 0, 10, 20], [50, 0, 60, 20]]),
        np.array([[52, 0, 62, 20], [2, 0, 12, 20]]),  # listed in the other order
        np.array([[4, 0, 14, 20], [100, 0, 110, 20]]),  # one left, one new
        np.zeros((0, 4)),
        np.array([[4, 0, 14, 20]]),  # after a gap: a new track
    ]
    assert assign_tracks(frames) == [[0, 1], [1, 0], [0, 2], [], [3]]


def test_stable_crop_keeps_the_box_until_the_person_leaves_it():
    boxes = np.array([[10, 10, 20, 30], [11, 10, 21, 30], [12, 11, 22, 31], [30, 10, 40, 30]],
                     dtype=float)
    centers, sizes = stable_crop_boxes(boxes, margin=1.5)
    np.testing.assert_allclose(centers[0], [15, 20])
    np.testing.assert_allclose(sizes[0], [15, 30])
    np.testing.assert_allclose(centers[:3], centers[[0, 0, 0]])  # inside: no re-crop
    np.testing.assert_allclose(centers[3], [35, 20])  # left the box: re-cropped around it
    for box, c, s in zip(boxes, centers, sizes):
        assert (box[:2] >= c - s / 2).all() and (box[2:] <= c + s / 2).all()


def test_stable_crop_with_margin_one_follows_every_move():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10]], dtype=float)
    centers, _ = stable_crop_boxes(boxes, margin=1.0)
    np.testing.assert_allclose(centers, [[5, 5], [6, 5]])
    with pytest.raises(ValueError, match='margin'):
        stable_crop_boxes(boxes, margin=0.5)
