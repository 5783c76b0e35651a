"""tools/video_demo.py pieces: the synthetic clip and the summary table.
(The demo's end-to-end run is in tests/e2e/test_mmpose_tools.py, with a trained checkpoint.)"""
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def demo():
    spec = importlib.util.spec_from_file_location('video_demo', REPO / 'tools' / 'video_demo.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_synthetic_clip_boxes_cover_the_keypoints(demo):
    video = demo.synthetic_clip(frames=3)
    assert len(video.frames) == 3 and video.frames[0].shape == (240, 320, 3)
    for track, boxes in video.boxes.items():
        kpts = video.keypoints[track]
        assert (kpts >= boxes[:, None, :2]).all() and (kpts <= boxes[:, None, 2:]).all()


def test_summary_table(demo):
    stats = [
        demo.FrameStats(dense_macs=10**9, executed_macs=10**9, dense_s=0.01, skip_s=0.01,
                        distances=[0.0, 3.0]),
        demo.FrameStats(dense_macs=10**9, executed_macs=2 * 10**8, dense_s=0.01, skip_s=0.005,
                        distances=[1.0, 1.0])
    ]
    summary = demo.summarize(stats, threads=1)
    assert summary['mac_ratio'] == pytest.approx(0.6)
    assert summary['speedup'] == pytest.approx(2.0)  # frame 0 (key frame) is not timed
    assert summary['keypoints_within_2px'] == pytest.approx(0.75)
    table = demo.format_table(summary)
    assert 'SkipConv' in table and '60%' in table and '2.00' in table
