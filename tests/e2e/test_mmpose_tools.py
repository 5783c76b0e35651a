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
import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = Path(mmpose.__file__).parent / '.mim' / 'tools'
CONFIGS = REPO / 'configs' / 'pose'
DENSE = CONFIGS / 'td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'
SKIPCONV = CONFIGS / 'td-hm_hrnet-tiny-skipconv-inorm_1xb32-10e_synthetic-jhmdb-64x64.py'
GUMBEL = CONFIGS / 'td-hm_hrnet-tiny-skipconv-gumbel_1xb8x4-3e_synthetic-jhmdb-64x64.py'


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


def test_video_demo_writes_its_outputs(trained):
    out = trained['tmp'] / 'demo'
    log = run([
        REPO / 'tools' / 'video_demo.py', '--checkpoint', trained['checkpoint'], '--frames', '6',
        '--out-dir', out
    ], trained['tmp'])
    assert 'GMACs/frame' in log and 'SkipConv' in log
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['frames'] == 6 and summary['dense_gmacs'] > 0
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
    assert len(rows) == 7 and rows[0].startswith('frame,dense_gmacs')
    assert (out / 'macs_time.png').stat().st_size > 10_000
