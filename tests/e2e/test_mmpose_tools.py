"""The user's flow through mmpose's own tools, on the synthetic video-pose dataset:
train dense -> evaluate dense and SkipConv (norm gates) on video -> fine-tune Gumbel gates
-> evaluate; then the video demo on a short clip with the trained checkpoint."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import mmpose
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmeff.apis import (Detector, Settings, build_pose_models, input_aspect_ratio, pose_batch,
                        pose_test_pipeline, run_video_pose, synthetic_clip)
from mmeff.layers import StreamState, stream

REPO = Path(__file__).resolve().parents[2]
TOOLS = Path(mmpose.__file__).parent / '.mim' / 'tools'
CONFIGS = REPO / 'configs' / 'pose'
DENSE = CONFIGS / 'td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'
SKIPCONV = CONFIGS / 'td-hm_hrnet-tiny-skipconv-inorm_1xb32-10e_synthetic-jhmdb-64x64.py'
GUMBEL = CONFIGS / 'td-hm_hrnet-tiny-skipconv-gumbel_1xb8x4-3e_synthetic-jhmdb-64x64.py'
DETECTOR = (REPO / 'configs' / 'efficientdet' /
            'efficientdet_effb0_bifpn_1xb8-16e_synthetic-people-128x96.py')


def run(args, cwd):
    env = dict(os.environ, PYTHONPATH=f'{REPO}{os.pathsep}{os.environ.get("PYTHONPATH", "")}',
               OMP_NUM_THREADS='1')  # tiny convs: one thread is faster, and robust to load
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def data_roots(root, *keys):
    return [f'{key}.data_root={root}/' for key in keys]


def last_metrics(work_dir: Path) -> dict:
    """The metrics of the last test run in ``work_dir``."""
    runs = sorted(p for p in work_dir.iterdir() if p.is_dir())
    return json.loads(next(runs[-1].glob('*.json')).read_text())


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Synthetic dataset and a dense tiny HRNet trained on it with mmpose's tools/train.py."""
    tmp = tmp_path_factory.mktemp('pose')
    root = tmp / 'data'
    run([
        REPO / 'tools' / 'generate_synthetic_pose_videos.py', root, '--train', '12', '--test', '2',
        '--frames', '24'
    ], tmp)
    work = tmp / 'dense'
    run([
        TOOLS / 'train.py', DENSE, '--work-dir', work, '--cfg-options',
        *data_roots(root, 'train_dataloader.dataset', 'val_dataloader.dataset.dataset',
                    'test_dataloader.dataset.dataset'), 'train_cfg.max_epochs=8',
        'train_cfg.val_interval=100', 'param_scheduler.1.end=8',
        'param_scheduler.1.milestones=[6,7]'
    ], tmp)
    return dict(tmp=tmp, root=root, checkpoint=work / 'epoch_8.pth')


def evaluate(trained, config, checkpoint, name, *options):
    work = trained['tmp'] / name
    run([
        TOOLS / 'test.py', config, checkpoint, '--work-dir', work, '--cfg-options',
        *data_roots(trained['root'], 'test_dataloader.dataset.dataset'), *options
    ], trained['tmp'])
    return last_metrics(work)


def test_skipconv_keeps_pck_at_less_than_half_the_macs(trained):
    dense = evaluate(trained, DENSE, trained['checkpoint'], 'test_dense')
    skip = evaluate(trained, SKIPCONV, trained['checkpoint'], 'test_skipconv')
    print(f'dense PCK {dense["PCK"]:.4f} at {dense["macs/executed_gmacs"]:.4f} GMACs/frame; '
          f'SkipConv PCK {skip["PCK"]:.4f} at {skip["macs/executed_gmacs"]:.4f} '
          f'({skip["macs/mac_ratio"]:.1%})')
    assert dense['PCK'] > 0.8, 'the dense model did not learn the synthetic task'
    assert dense['macs/mac_ratio'] == 1.0
    assert skip['macs/dense_gmacs'] == pytest.approx(dense['macs/dense_gmacs'])
    assert skip['macs/mac_ratio'] < 0.5
    assert skip['PCK'] >= dense['PCK'] - 0.02


def test_gumbel_gate_training_cuts_macs(trained):
    work = trained['tmp'] / 'gumbel'
    log = run([
        TOOLS / 'train.py', GUMBEL, '--work-dir', work, '--cfg-options',
        f'load_from={trained["checkpoint"]}',
        *data_roots(trained['root'], 'train_dataloader.dataset.dataset',
                    'val_dataloader.dataset.dataset', 'test_dataloader.dataset.dataset'),
        'train_dataloader.dataset.clip_stride=4', 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=100'
    ], trained['tmp'])
    assert 'gate_temperature' in log and 'loss_gate' in log
    metrics = evaluate(trained, GUMBEL, work / 'epoch_1.pth', 'test_gumbel')
    print(f'Gumbel gates: PCK {metrics["PCK"]:.4f} at {metrics["macs/mac_ratio"]:.1%} of the MACs')
    assert metrics['macs/mac_ratio'] < 0.9
    assert metrics['PCK'] > 0.5


@pytest.fixture(scope='module')
def people_detector(tmp_path_factory):
    """The demo's person detector (EfficientDet-D0), trained on the synthetic walking figures by
    the project's cached-training command, into a fresh cache."""
    cache = tmp_path_factory.mktemp('detector')
    run(['-m', 'mmeff.benchmark.checkpoints', 'people', DETECTOR, '--cache-dir', cache], REPO)
    return next(cache.glob('*/dense.pth'))


def test_video_demo_writes_its_outputs(trained, people_detector):
    out = trained['tmp'] / 'demo'
    log = run([
        REPO / 'tools' / 'video_demo.py', '--checkpoint', trained['checkpoint'], '--det-checkpoint',
        people_detector, '--det-skipconv', '--compare-config', DENSE, '--frames', '6', '--out-dir',
        out
    ], trained['tmp'])
    assert 'pose GMACs/frame' in log and 'SkipConv pose runs at' in log
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['frames'] == 6 and summary['dense_gmacs'] > 0
    assert summary['tracks'] >= 1 and summary['detector_ms'] > 0
    assert 0 < summary['detector_mac_ratio'] < 1  # the SkipConv detector skips static blocks
    assert summary['compared_ms'] > 0 and 'random weights' in summary['compared_model']
    assert summary['mac_ratio'] < 1.0 and 0.0 <= summary['keypoints_within_2px'] <= 1.0
    assert summary['dense_pck'] > 0.5
    capture = cv2.VideoCapture(str(out / 'demo.mp4'))
    frames = []
    ok, frame = capture.read()
    while ok:
        frames.append(frame)
        ok, frame = capture.read()
    assert len(frames) == 6 and frames[0].shape == (240, 640, 3)
    rows = (out / 'per_frame.csv').read_text().splitlines()
    assert len(rows) == 7 and rows[0].startswith('frame,people,dense_gmacs')
    assert (out / 'macs_time.png').stat().st_size > 10_000


def test_video_demo_without_weights_for_a_real_video_falls_back(trained, people_detector, tmp_path):
    video = tmp_path / 'street.mp4'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'), 10, (96, 64))
    for _ in range(3):
        writer.write(np.zeros((64, 96, 3), np.uint8))
    writer.release()
    log = run([
        REPO / 'tools' / 'video_demo.py', '--video', video, '--checkpoint', trained['checkpoint'],
        '--frames', '3', '--out-dir', tmp_path / 'out', '--cache-dir', people_detector.parents[1]
    ], tmp_path)
    assert 'would draw nonsense on your video' in log and 'synthetic default clip' in log
    assert json.loads((tmp_path / 'out' / 'summary.json').read_text())['frames'] == 3


def test_each_track_equals_its_own_fresh_stream(trained, people_detector, tmp_path):
    """Detect -> track -> per-track SkipConv streams on a clip where one person leaves and one
    enters: every track's keypoints equal those of that track run alone through a new stream."""
    torch.set_num_threads(1)
    video = synthetic_clip(frames=40)
    detector = Detector(DETECTOR, str(people_detector), cat_id=0, bbox_thr=0.3, skipconv=False,
                        block=4)
    dense, skip = build_pose_models(DENSE, str(trained['checkpoint']), block=4)
    pipeline = pose_test_pipeline(Config.fromfile(str(DENSE)))
    stats, logs = run_video_pose(video, detector, dense, skip, pipeline,
                                 Settings(aspect_ratio=input_aspect_ratio(pipeline)), tmp_path)
    assert len(logs) >= 2, f'expected the figures as tracks, got {len(logs)}'
    last = len(video.frames) - 1
    # a person enters or leaves during the clip: some track starts late or ends early
    assert any(log.frames[0] > 0 or log.frames[-1] < last for log in logs.values())
    with torch.no_grad():
        for track, log in logs.items():
            assert log.frames == list(range(log.frames[0], log.frames[-1] + 1))
            state = StreamState()
            for t, box, center, size, keypoints in zip(log.frames, log.boxes, log.centers,
                                                       log.sizes, log.keypoints):
                with stream(state):
                    (sample, ) = skip.test_step(
                        pose_batch(pipeline, video.frames[t], box, center, size))
                np.testing.assert_array_equal(sample.pred_instances.keypoints[0], keypoints,
                                              err_msg=f'track {track}, frame {t}')


def test_video_demo_runs_a_stock_coco_model_on_a_video_file(people_detector, tmp_path):
    """A user's video with mmpose's stock COCO HRNet-W32 config, unchanged (random weights
    stand in for the COCO checkpoint, which cannot be downloaded here)."""
    from mmpose.apis import init_model
    video = tmp_path / 'street.mp4'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'), 15, (320, 240))
    for frame in synthetic_clip(frames=4).frames:
        writer.write(frame)
    writer.release()
    config = (Path(mmpose.__file__).parent / '.mim' / 'configs' / 'body_2d_keypoint' /
              'topdown_heatmap' / 'coco' / 'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py')
    checkpoint = tmp_path / 'w32_random.pth'
    torch.save(dict(state_dict=init_model(str(config), None, device='cpu').state_dict()),
               checkpoint)
    out = tmp_path / 'out'
    log = run([
        REPO / 'tools' / 'video_demo.py', '--video', video, '--config', config, '--checkpoint',
        checkpoint, '--det-checkpoint', people_detector, '--frames', '4', '--out-dir', out
    ], tmp_path)
    assert 'would draw nonsense' not in log
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['frames'] == 4 and summary['tracks'] >= 1
    assert summary['dense_gmacs'] > 5  # W32 at 256x192: about 7.7 GMACs per person
    assert 'dense_pck' not in summary  # no ground truth for a video file
