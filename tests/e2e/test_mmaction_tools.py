"""End to end with mmaction2's own tools: generate the synthetic dataset, train a tiny MoViNet
stream model with tools/train.py, then test it with tools/test.py in streaming mode (frame by
frame and in random sub-clips)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs/movinet/movinet-tiny-stream_1xb8-8x1x1-6e_synthetic-actions-rgb.py'


def mmaction_tool(name: str) -> Path:
    mmaction = pytest.importorskip('mmaction', reason='mmaction2 is not installed')
    tool = Path(mmaction.__file__).parent / '.mim' / 'tools' / name
    if not tool.exists():
        pytest.skip(reason=f'mmaction2 ships no {tool} (needs a wheel install with .mim)')
    return tool


def dataset_options(data: Path) -> list:
    """``--cfg-options`` pointing the train, val and test loaders at the synthetic videos in
    ``data`` (the test loader at the val split)."""
    options = []
    for loader, split in (('train', 'train'), ('val', 'val'), ('test', 'val')):
        options += [
            f'{loader}_dataloader.dataset.ann_file={data}/{split}_list.txt',
            f'{loader}_dataloader.dataset.data_prefix.video={data}/videos'
        ]
    return options


def run(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    done = subprocess.run([sys.executable, '-W', 'ignore', *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def synthetic_actions(tmp_path: Path) -> list:
    """Write the synthetic action videos (40 training and 8 validation videos per class, 8
    frames of 32x32) to ``tmp_path/data``; returns the options of :func:`dataset_options`."""
    data = tmp_path / 'data'
    run([
        REPO / 'tools/generate_synthetic_actions.py', data, '--train', 40, '--val', 8, '--frames',
        8, '--size', 32, 32
    ], tmp_path)
    return dataset_options(data)


def logged(work: Path, key: str) -> list:
    """Every value of ``key`` that the latest training in ``work`` logged, in order."""
    lines = sorted(work.glob('*/vis_data/scalars.json'))[-1].read_text().splitlines()
    return [json.loads(line)[key] for line in lines if f'"{key}"' in line]


def test_train_learns_and_streaming_test_reproduces_it(tmp_path):
    train_tool, test_tool = mmaction_tool('train.py'), mmaction_tool('test.py')
    paths = synthetic_actions(tmp_path)
    work = tmp_path / 'work'
    run([train_tool, CONFIG, '--work-dir', work, '--cfg-options', 'randomness.seed=0', *paths],
        tmp_path)
    val_acc = logged(work, 'acc/top1')[-1]
    assert val_acc >= 0.75, f'4 classes, chance 0.25: validation top-1 {val_acc}'

    for pieces in ('1', 'random'):  # frame by frame, then sub-clips of random lengths
        log = run([
            test_tool, CONFIG, work / 'epoch_6.pth', '--work-dir', tmp_path / 'test',
            '--cfg-options', f'test_cfg.piece_frames={pieces}', *paths
        ], tmp_path)
        metrics = dict(re.findall(r'(acc/top1|stream/ms_per_frame|stream/state_mb): ([0-9.]+)',
                                  log))
        # streaming reproduces the whole-clip validation exactly (the log rounds to 4 decimals)
        assert float(metrics['acc/top1']) == pytest.approx(val_acc, abs=5e-5)
        assert float(metrics['stream/ms_per_frame']) > 0
        assert float(metrics['stream/state_mb']) > 0
