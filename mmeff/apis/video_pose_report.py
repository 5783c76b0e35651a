"""What a video pose run reports: the summary (MAC share, pose, detector and pipeline times,
keypoint agreement per track, PCK against ground truth), its table, the per-frame CSV and plot,
and a one-line verdict on whether SkipConv pays."""
import csv
import json
import statistics
from pathlib import Path
from typing import Dict, List

import numpy as np

from .video_pose_pipeline import FrameStats, TrackLog


def median_ms(values) -> float:
    values = list(values)
    return statistics.median(values) * 1e3 if values else float('nan')


def ratio(a: float, b: float) -> float:
    return a / b if b else float('nan')


def summarize(stats: List[FrameStats], logs: Dict[int, TrackLog], threads: int) -> dict:
    """Medians over the frames after the first (every stream's first frame is a key frame);
    pose times over the frames with people in them (NaN when nobody was detected)."""
    steady = stats[1:] or stats
    pose_dense = median_ms(s.dense_s for s in steady if s.tracks)
    pose_skip = median_ms(s.skip_s for s in steady if s.tracks)
    det_dense = median_ms(s.det_dense_s for s in steady if s.det_dense_macs)
    det_skip = median_ms(s.det_skip_s for s in steady if s.det_skip_s is not None)
    dense_pipeline = median_ms(s.det_dense_s + s.dense_s for s in steady)
    skip_pipeline = median_ms(
        (s.det_dense_s if s.det_skip_s is None else s.det_skip_s) + s.skip_s for s in steady)
    distances = np.array([d for s in stats for d in s.distances])
    dense_macs = sum(s.dense_macs for s in stats)
    summary = dict(
        frames=len(stats), threads=threads, tracks=len(logs), most_people_in_a_frame=max(
            s.tracks for s in stats), dense_gmacs=dense_macs / len(stats) / 1e9,
        skipconv_gmacs=sum(s.executed_macs for s in stats) / len(stats) / 1e9,
        mac_ratio=sum(s.executed_macs for s in stats) / max(dense_macs, 1), dense_ms=pose_dense,
        skipconv_ms=pose_skip, speedup=ratio(pose_dense, pose_skip), detector_ms=det_dense,
        detector_gmacs=statistics.mean(s.det_dense_macs for s in stats) / 1e9,
        dense_pipeline_ms=dense_pipeline, skipconv_pipeline_ms=skip_pipeline,
        pipeline_speedup=ratio(dense_pipeline, skip_pipeline), keypoints_within_2px=float(
            (distances <= 2).mean()) if len(distances) else float('nan'),
        mean_keypoint_distance_px=float(distances.mean()) if len(distances) else float('nan'),
        crops_per_track=statistics.mean(log.crops for log in logs.values()) if logs else 0.0,
        per_track_within_2px={
            str(track): float(np.mean(np.array(log.distances) <= 2))
            for track, log in logs.items()
        })
    if any(s.compare_s for s in stats):
        summary['compared_ms'] = median_ms(s.compare_s for s in steady if s.tracks)
        summary['compared_pipeline_ms'] = median_ms(s.det_dense_s + s.compare_s for s in steady)
    if any(s.det_skip_s is not None for s in stats):
        summary['skipconv_detector_ms'] = det_skip
        summary['detector_speedup'] = det_dense / det_skip
        summary['detector_mac_ratio'] = sum(s.det_executed_macs for s in stats) / max(
            sum(s.det_dense_macs for s in stats), 1)
    if any(s.dense_correct for s in stats):
        summary['dense_pck'] = float(np.mean([c for s in stats for c in s.dense_correct]))
        summary['skipconv_pck'] = float(np.mean([c for s in stats for c in s.skip_correct]))
    return summary


def format_table(summary: dict) -> str:
    pck_dense = f'{summary["dense_pck"]:.3f}' if 'dense_pck' in summary else '-'
    pck_skip = f'{summary["skipconv_pck"]:.3f}' if 'skipconv_pck' in summary else '-'
    det_skip = summary.get('skipconv_detector_ms', summary['detector_ms'])
    rows = [
        ('', 'pose GMACs/frame', 'pose ms', 'pose speed-up', 'detector ms', 'pipeline ms',
         'pipeline speed-up', 'PCK@0.2 (GT)', 'kpts <= 2 px of dense'),
        ('dense', f'{summary["dense_gmacs"]:.4f}', f'{summary["dense_ms"]:.1f}', '1.00',
         f'{summary["detector_ms"]:.1f}', f'{summary["dense_pipeline_ms"]:.1f}', '1.00', pck_dense,
         '-'),
        ('SkipConv', f'{summary["skipconv_gmacs"]:.4f} ({summary["mac_ratio"]:.0%})',
         f'{summary["skipconv_ms"]:.1f}', f'{summary["speedup"]:.2f}', f'{det_skip:.1f}',
         f'{summary["skipconv_pipeline_ms"]:.1f}', f'{summary["pipeline_speedup"]:.2f}', pck_skip,
         f'{summary["keypoints_within_2px"]:.1%}'),
    ]
    if 'compared_ms' in summary:
        rows.append((summary['compared_model'], '-', f'{summary["compared_ms"]:.1f}',
                     f'{ratio(summary["dense_ms"], summary["compared_ms"]):.2f}',
                     f'{summary["detector_ms"]:.1f}', f'{summary["compared_pipeline_ms"]:.1f}',
                     f'{ratio(summary["dense_pipeline_ms"], summary["compared_pipeline_ms"]):.2f}',
                     '-', '-'))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ['  '.join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    detector = 'SkipConv detector (own stream)' if 'skipconv_detector_ms' in summary else \
        'the dense detector in both pipelines'
    return '\n'.join([lines[0], '-' * len(lines[0]), *lines[1:]]) + \
        f'\n({summary["frames"]} frames, {summary["tracks"]} tracks, at most ' \
        f'{summary["most_people_in_a_frame"]} people in a frame, {summary["threads"]} ' \
        f'thread(s); {detector}; ms: median over frames after the first, pose summed over ' \
        'the people in the frame)'


def write_outputs(stats: List[FrameStats], summary: dict, out_dir: Path) -> None:
    with open(out_dir / 'per_frame.csv', 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow([
            'frame', 'people', 'dense_gmacs', 'skipconv_gmacs', 'dense_ms', 'skipconv_ms',
            'detector_ms', 'keypoints_within_2px'
        ])
        for t, s in enumerate(stats):
            writer.writerow([
                t, s.tracks, s.dense_macs / 1e9, s.executed_macs / 1e9, s.dense_s * 1e3,
                s.skip_s * 1e3, s.det_dense_s * 1e3,
                float(np.mean(np.array(s.distances) <= 2)) if s.distances else ''
            ])
    (out_dir / 'summary.json').write_text(json.dumps(summary, indent=2))
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    frames = range(len(stats))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    top.plot(frames, [s.dense_macs / 1e6 for s in stats], label='dense pose')
    top.plot(frames, [s.executed_macs / 1e6 for s in stats], label='SkipConv pose (executed)')
    top.set_ylabel('conv MMACs / frame')
    top.legend()
    bottom.plot(frames, [s.dense_s * 1e3 for s in stats], label='dense pose')
    bottom.plot(frames, [s.skip_s * 1e3 for s in stats], label='SkipConv pose')
    bottom.plot(frames, [s.det_dense_s * 1e3 for s in stats], label='detector', linestyle=':')
    bottom.set_ylabel('ms / frame')
    bottom.set_xlabel('frame')
    bottom.legend()
    fig.tight_layout()
    fig.savefig(out_dir / 'macs_time.png', dpi=100)
    plt.close(fig)


def verdict(summary: dict) -> str:
    """One line on whether SkipConv pays in this run, from its own measurements."""
    if not summary['tracks']:
        return 'Nobody was detected, so no pose model ran (lower --bbox-thr, or check the ' \
            'detector and --det-cat-id).'
    if 'dense_pck' in summary:
        change = (summary['skipconv_pck'] - summary['dense_pck']) * 100
        fidelity = (f'PCK@0.2 {summary["skipconv_pck"]:.3f} against dense '
                    f'{summary["dense_pck"]:.3f} ({change:+.1f} points)')
    else:
        fidelity = f'{summary["keypoints_within_2px"]:.0%} of keypoints within 2 px of dense'
    line = (f'SkipConv pose runs at {summary["speedup"]:.2f}x the dense pose model with '
            f'{summary["mac_ratio"]:.0%} of its MACs, {fidelity}; the pipeline with the '
            f'detector at {summary["pipeline_speedup"]:.2f}x.')
    if summary['speedup'] < 1.5:
        line += (' That is below the 1.5x that pays for SkipConv: on this model the gates, the '
                 'state, the undo log and the dispatch of every layer cost about as much as the '
                 'skipped convolutions (docs/video_pose.md#the-main-job-toolsvideo_demopy shows '
                 'HRNet-W32 in the same pipeline).')
    return line
