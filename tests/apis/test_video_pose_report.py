"""mmeff.apis.video_pose_report: the summary, its table and the verdict.
(The demo's end-to-end runs are in tests/e2e/test_mmpose_tools.py, with trained checkpoints.)"""
import numpy as np
import pytest

from mmeff.apis import FrameStats, TrackLog, format_table, summarize, verdict


def test_summary_table():
    stats = [
        FrameStats(dense_macs=10**9, executed_macs=10**9, dense_s=0.01, skip_s=0.01,
                   det_dense_s=0.01, det_dense_macs=10**8, tracks=1, distances=[0.0, 3.0]),
        FrameStats(dense_macs=10**9, executed_macs=2 * 10**8, dense_s=0.01, skip_s=0.005,
                   det_dense_s=0.01, det_dense_macs=10**8, tracks=2, distances=[1.0, 1.0])
    ]
    logs = {0: TrackLog(distances=[0.0, 3.0, 1.0]), 1: TrackLog(distances=[1.0])}
    summary = summarize(stats, logs, threads=1)
    assert summary['mac_ratio'] == pytest.approx(0.6)
    assert summary['speedup'] == pytest.approx(2.0)  # frame 0 (key frame) is not timed
    assert summary['pipeline_speedup'] == pytest.approx(20 / 15)  # the detector counts
    assert summary['keypoints_within_2px'] == pytest.approx(0.75)
    assert summary['per_track_within_2px'] == {'0': pytest.approx(2 / 3), '1': 1.0}
    assert summary['tracks'] == 2 and summary['most_people_in_a_frame'] == 2
    table = format_table(summary)
    assert 'SkipConv' in table and '60%' in table and '2.00' in table and '1.33' in table
    assert 'below the 1.5x' not in verdict(summary)
    summary.update(compared_model='rtmpose-m', compared_ms=5.0, compared_pipeline_ms=15.0)
    compared_row = format_table(summary).splitlines()[4].split()
    assert compared_row[0] == 'rtmpose-m' and compared_row[3] == '2.00'  # 10 ms dense / 5 ms
    summary['speedup'] = 1.2
    assert 'below the 1.5x' in verdict(summary)


def test_summary_of_a_video_where_nobody_was_detected():
    stats = [FrameStats(det_dense_s=0.02, det_dense_macs=10**8) for _ in range(3)]
    summary = summarize(stats, {}, threads=1)
    assert summary['tracks'] == 0 and np.isnan(summary['speedup'])
    assert summary['pipeline_speedup'] == pytest.approx(1.0)  # the detector alone, both sides
    assert 'Nobody was detected' in verdict(summary)
    assert 'nan' in format_table(summary)
