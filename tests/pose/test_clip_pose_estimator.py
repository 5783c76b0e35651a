"""ClipTopdownPoseEstimator: clip batches through SkipConv Gumbel gates, with the gate MAC loss."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from mmeff.pose import VideoClipDataset, clip_pseudo_collate
from mmeff.utils.synthetic_pose_dataset import default_dataset_config, write_jhmdb_dataset
from tests.helpers import build_model

CONFIG = Path(__file__).resolve().parents[2] / 'configs' / 'pose' / \
    'td-hm_hrnet-tiny-skipconv-gumbel_1xb8x4-3e_synthetic-jhmdb-64x64.py'


@pytest.fixture(scope='module')
def model_and_batch(tmp_path_factory):
    root = tmp_path_factory.mktemp('jhmdb')
    write_jhmdb_dataset(str(root),
                        default_dataset_config(videos=dict(train=1), frames=4, height=48, width=64))
    cfg = Config.fromfile(str(CONFIG))
    cfg.model.model.clip_len = 2
    torch.manual_seed(0)
    model = build_model(cfg.model, 'mmpose').train()
    dataset = VideoClipDataset(dict(cfg.train_dataloader.dataset.dataset, data_root=str(root)),
                               clip_len=2, clip_stride=2)
    batch = model.data_preprocessor(clip_pseudo_collate([dataset[0], dataset[1]]), True)
    return model, batch


@pytest.mark.slow
def test_loss_adds_a_differentiable_gate_loss(model_and_batch):
    model, batch = model_and_batch
    losses = model.loss(batch['inputs'], batch['data_samples'])
    assert {'loss_kpt', 'loss_gate', 'mac_share'} <= set(losses)
    assert 0 < losses['mac_share'].item() <= 1
    assert losses['loss_gate'].item() == pytest.approx(0.05 * losses['mac_share'].item())
    losses['loss_gate'].backward()
    gate_grads = [p.grad for n, p in model.named_parameters() if '.gate.conv' in n]
    assert gate_grads and any(g is not None and g.abs().sum() > 0 for g in gate_grads)


def test_batches_that_are_not_whole_clips_are_rejected(model_and_batch):
    model, batch = model_and_batch
    with pytest.raises(ValueError, match='clip_len=2'):
        model.loss(batch['inputs'][:3], batch['data_samples'][:3])
