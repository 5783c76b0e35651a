"""tools/video_demo.py pieces: the synthetic clip and the summary table.
(The demo's end-to-end runs are in tests/e2e/test_mmpose_tools.py, with trained checkpoints.)"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def demo():
    spec = importlib.util.spec_from_file_location('video_demo', REPO / 'tools' / 'video_demo.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def clip(demo):
    return demo.synthetic_clip(frames=60)


def test_synthetic_clip_has_people_leaving_and_entering(clip):
    video = clip
    assert len(video.frames) == 60 and video.frames[0].shape == (240, 320, 3)
    assert video.keypoints.shape[:2] == (60, 3)
    centre_x = video.keypoints.mean(2)[..., 0]  # (T, figures)
    in_view = (centre_x > 0) & (centre_x < 320)
    assert (~in_view[0] & in_view[-1]).any() and (in_view[0] & ~in_view[-1]).any()


def test_true_figure_matches_a_detection_to_the_figure_under_it(demo, clip):
    video = clip
    keypoints = video.keypoints[25]
    inside = [k for k in range(3) if (keypoints[k] > 0).all() and (keypoints[k, :, 0] < 320).all()]
    figure = inside[-1]
    box = np.concatenate([keypoints[figure].min(0) - 5, keypoints[figure].max(0) + 5])
    assert demo.true_figure(keypoints, box, 240, 320) == figure
    assert demo.true_figure(keypoints, np.array([0.0, 0.0, 5.0, 5.0]), 240, 320) is None


def test_summary_table(demo):
    stats = [
        demo.FrameStats(dense_macs=10**9, executed_macs=10**9, dense_s=0.01, skip_s=0.01,
                        det_dense_s=0.01, det_dense_macs=10**8, tracks=1, distances=[0.0, 3.0]),
        demo.FrameStats(dense_macs=10**9, executed_macs=2 * 10**8, dense_s=0.01, skip_s=0.005,
                        det_dense_s=0.01, det_dense_macs=10**8, tracks=2, distances=[1.0, 1.0])
    ]
    logs = {0: demo.TrackLog(distances=[0.0, 3.0, 1.0]), 1: demo.TrackLog(distances=[1.0])}
    summary = demo.summarize(stats, logs, threads=1)
    assert summary['mac_ratio'] == pytest.approx(0.6)
    assert summary['speedup'] == pytest.approx(2.0)  # frame 0 (key frame) is not timed
    assert summary['pipeline_speedup'] == pytest.approx(20 / 15)  # the detector counts
    assert summary['keypoints_within_2px'] == pytest.approx(0.75)
    assert summary['per_track_within_2px'] == {'0': pytest.approx(2 / 3), '1': 1.0}
    assert summary['tracks'] == 2 and summary['most_people_in_a_frame'] == 2
    table = demo.format_table(summary)
    assert 'SkipConv' in table and '60%' in table and '2.00' in table and '1.33' in table
    assert 'below the 1.5x' not in demo.verdict(summary)
    summary.update(compared_model='rtmpose-m', compared_ms=5.0, compared_pipeline_ms=15.0)
    compared_row = demo.format_table(summary).splitlines()[4].split()
    assert compared_row[0] == 'rtmpose-m' and compared_row[3] == '2.00'  # 10 ms dense / 5 ms
    summary['speedup'] = 1.2
    assert 'below the 1.5x' in demo.verdict(summary)


def test_summary_of_a_video_where_nobody_was_detected(demo):
    stats = [demo.FrameStats(det_dense_s=0.02, det_dense_macs=10**8) for _ in range(3)]
    summary = demo.summarize(stats, {}, threads=1)
    assert summary['tracks'] == 0 and np.isnan(summary['speedup'])
    assert summary['pipeline_speedup'] == pytest.approx(1.0)  # the detector alone, both sides
    assert 'Nobody was detected' in demo.verdict(summary)
    assert 'nan' in demo.format_table(summary)


def test_a_stock_mmdet_config_runs_as_the_person_detector(demo, tmp_path):
    """mmdet's stock RTMDet-tiny COCO config, unchanged (random weights stand in for the COCO
    checkpoint): the demo's detector builds its pipeline and returns (K, 4) person boxes."""
    import mmdet
    import torch
    from mmdet.apis import init_detector
    config = (Path(mmdet.__file__).parent / '.mim' / 'configs' / 'rtmdet' /
              'rtmdet_tiny_8xb32-300e_coco.py')
    checkpoint = tmp_path / 'rtmdet_random.pth'
    torch.manual_seed(0)
    torch.save(dict(state_dict=init_detector(str(config), None, device='cpu').state_dict()),
               checkpoint)
    detector = demo.Detector(config, str(checkpoint), cat_id=0, bbox_thr=0.0, skipconv=False,
                             block=4)
    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    with torch.no_grad():
        (sample, ) = detector.dense.test_step(detector.batch(frame))
    instances = sample.pred_instances
    assert len(instances) > 0  # random weights: boxes of random classes
    detector.cat_id = int(instances.labels[0])  # the class of the top box stands for people
    boxes = detector.boxes(sample)
    want = instances.bboxes[instances.labels == detector.cat_id].numpy()
    assert boxes.shape == (len(want), 4) and len(boxes) > 0
    np.testing.assert_array_equal(boxes, want)
    # in the frame's pixels (320 x 240), not the 640 x 640 network input's
    assert (boxes[:, :2] >= -1).all() and (boxes[:, 2] <= 321).all() and (boxes[:, 3] <= 241).all()
