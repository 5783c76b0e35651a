"""mmeff.benchmark.checkpoints: synthetic-data checkpoints, trained once and cached."""
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

from mmeff.benchmark.checkpoints import (DetectionDataset, _point_at, cached_checkpoint_path,
                                         trained_checkpoint)
from mmeff.utils.synthetic_pose_dataset import default_dataset_config

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / 'configs' / 'pose' / 'td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'
DET = REPO / 'configs' / 'efficientdet' / 'efficientdet_effb0_bifpn_1xb8-24e_synthvid-128x128.py'


def test_the_cache_is_keyed_on_config_and_dataset(tmp_path):
    dataset = default_dataset_config()
    path = cached_checkpoint_path(TINY, dataset, tmp_path)
    assert path == cached_checkpoint_path(TINY, default_dataset_config(), tmp_path)
    other_config = TINY.with_name(TINY.name.replace('tiny_', 'tiny-skipconv-inorm_'))
    assert path != cached_checkpoint_path(other_config, dataset, tmp_path)
    assert path != cached_checkpoint_path(TINY, default_dataset_config(height=240), tmp_path)


@pytest.mark.e2e
def test_a_cached_checkpoint_is_reused_without_training(tmp_path):
    path = cached_checkpoint_path(TINY, default_dataset_config(), tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'weights')
    assert trained_checkpoint(TINY, default_dataset_config(), tmp_path) == path
    done = subprocess.run([
        sys.executable, '-m', 'mmeff.benchmark.checkpoints', 'pose',
        str(TINY), '--cache-dir',
        str(tmp_path)
    ], cwd=REPO, check=True, capture_output=True, text=True)
    assert done.stdout == f'{path}\n'  # the path alone on stdout: usable as $(...)
    assert 'using the cached checkpoint' in done.stderr


def test_the_configs_read_the_written_dataset(tmp_path):
    pose = Config.fromfile(str(TINY))
    _point_at(pose, tmp_path, default_dataset_config())
    assert pose.train_dataloader.dataset.data_root == f'{tmp_path}/'
    assert pose.val_dataloader.dataset.dataset.data_root == f'{tmp_path}/'
    assert pose.test_dataloader.dataset.dataset.data_root == f'{tmp_path}/'
    det = Config.fromfile(str(DET))
    _point_at(det, tmp_path, DetectionDataset())
    assert det.val_dataloader.dataset.data_root == f'{tmp_path}/'
    assert det.test_evaluator.ann_file == f'{tmp_path}/annotations/val.json'
