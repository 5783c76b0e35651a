"""Tracks by IoU and stable crop boxes."""
import numpy as np
import pytest

from mmeff.pose import IoUTracker, StableCrop, assign_tracks, box_iou, stable_crop_boxes


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
    with pytest.raises(ValueError, match='margin must be >= 1'):
        stable_crop_boxes(boxes, margin=0.5)


def test_tracker_reports_ended_tracks():
    tracker = IoUTracker()
    assert tracker.update(np.array([[0, 0, 10, 20], [50, 0, 60, 20]])) == [0, 1]
    assert tracker.ended == []
    assert tracker.update(np.array([[1, 0, 11, 20]])) == [0]
    assert tracker.ended == [1]
    assert tracker.update(np.zeros((0, 4))) == []
    assert tracker.ended == [0]
    with pytest.raises(ValueError, match='min_iou'):
        IoUTracker(min_iou=1.5)


def test_stable_crop_online_matches_the_batch_form():
    rng = np.random.default_rng(0)
    corners = np.cumsum(rng.normal(0, 2, (30, 2)), 0) + 50
    boxes = np.concatenate([corners, corners + [10, 25]], 1)
    centers, sizes = stable_crop_boxes(boxes, margin=1.3)
    cropper = StableCrop(margin=1.3)
    recrops = 0
    for box, c, s in zip(boxes, centers, sizes):
        center, size = cropper.update(box)
        np.testing.assert_array_equal(center, c)
        np.testing.assert_array_equal(size, s)
        recrops += cropper.recropped
    assert 1 < recrops < len(boxes)  # the random walk leaves its crop now and then, not always


def test_stable_crop_at_the_models_aspect_ratio_gives_room_to_walk():
    tall = np.array([[100, 0, 120, 60], [118, 0, 138, 60]], dtype=float)  # 20 x 60, then 18 px on
    cropper = StableCrop(margin=1.0, aspect_ratio=1.0)
    center, size = cropper.update(tall[0])
    np.testing.assert_allclose(size, [60, 60])  # widened to the square input
    np.testing.assert_allclose(cropper.update(tall[1])[0], center)  # still inside: no re-crop
    assert not cropper.recropped
    wide = StableCrop(margin=1.0, aspect_ratio=0.5).update(np.array([0, 0, 40, 40]))[1]
    np.testing.assert_allclose(wide, [40, 80])
    with pytest.raises(ValueError, match='aspect_ratio'):
        StableCrop(aspect_ratio=0.0)
