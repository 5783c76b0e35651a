"""mmeff.apis.video_source: the synthetic clip and the figure under a detection."""
import numpy as np
import pytest

from mmeff.apis import synthetic_clip, true_figure


@pytest.fixture(scope='module')
def clip():
    return synthetic_clip(frames=60)


def test_synthetic_clip_has_people_leaving_and_entering(clip):
    video = clip
    assert len(video.frames) == 60 and video.frames[0].shape == (240, 320, 3)
    assert video.keypoints.shape[:2] == (60, 3)
    centre_x = video.keypoints.mean(2)[..., 0]  # (T, figures)
    in_view = (centre_x > 0) & (centre_x < 320)
    assert (~in_view[0] & in_view[-1]).any() and (in_view[0] & ~in_view[-1]).any()


def test_true_figure_matches_a_detection_to_the_figure_under_it(clip):
    video = clip
    keypoints = video.keypoints[25]
    inside = [k for k in range(3) if (keypoints[k] > 0).all() and (keypoints[k, :, 0] < 320).all()]
    figure = inside[-1]
    box = np.concatenate([keypoints[figure].min(0) - 5, keypoints[figure].max(0) + 5])
    assert true_figure(keypoints, box, 240, 320) == figure
    assert true_figure(keypoints, np.array([0.0, 0.0, 5.0, 5.0]), 240, 320) is None
