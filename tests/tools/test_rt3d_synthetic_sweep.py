"""mmeff.benchmark.rt3d_sweep (tools/rt3d_synthetic_sweep.py) without training: its loader
options, the reuse of finished runs, and a row from logged accuracies and a pruned checkpoint."""
import json

import pytest
import torch
from mmengine.config import Config

from mmeff.layers.kernel_group_sparsity import prune_model
from tests.helpers import build_model


@pytest.fixture(scope='module')
def sweep():
    pytest.importorskip('mmaction', reason='mmaction2 is not installed')
    from mmeff.benchmark import rt3d_sweep
    return rt3d_sweep


def test_loader_options_point_train_and_val_at_the_data(sweep, tmp_path):
    assert sweep.dataset_options(tmp_path) == [
        f'train_dataloader.dataset.ann_file={tmp_path}/train_list.txt',
        f'train_dataloader.dataset.data_prefix.video={tmp_path}/videos',
        f'val_dataloader.dataset.ann_file={tmp_path}/val_list.txt',
        f'val_dataloader.dataset.data_prefix.video={tmp_path}/videos'
    ]


def test_a_finished_run_is_not_trained_again(sweep, tmp_path, monkeypatch):
    work = sweep.run_dir(tmp_path, 1, 'kgs', 3)
    assert work == tmp_path / 'seed1' / 'kgs-3x'
    work.mkdir(parents=True)
    (work / 'last_checkpoint').write_text(f'{work}/epoch_8.pth\n')
    monkeypatch.setattr(sweep.subprocess, 'run', lambda *a, **k: pytest.fail('trained again'))
    assert sweep.train(sweep.DENSE, work, [], 1) == work / 'epoch_8.pth'


def test_a_row_holds_every_seed_and_the_pruned_models_report(sweep, tmp_path):
    config = sweep.CONFIGS / 'r2plus1d-tiny-filter-3x_1xb8-8x1x1-8e_synthetic-actions-rgb.py'
    model = build_model(Config.fromfile(str(config)).model, 'mmaction')
    masks = prune_model(model, 'filter', {'backbone.layer3.1.conv2.conv.conv_s': 0.25})
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'pruned.pth')
    works = []
    for seed, accuracies in enumerate(([0.5, 0.75], [0.25], [1.0])):
        works.append(sweep.run_dir(tmp_path, seed, 'filter', 3))
        logs = works[-1] / '20261206_000000' / 'vis_data'
        logs.mkdir(parents=True)
        lines = [dict(loss=1.0, step=1)] + [{'acc/top1': a, 'step': 8} for a in accuracies]
        (logs / 'scalars.json').write_text('\n'.join(map(json.dumps, lines)) + '\n')

    row = sweep.result_row('filter', 3, config, works, tmp_path / 'pruned.pth')
    assert row['top1_per_seed'] == [0.75, 0.25, 1.0]  # the last validation of each run
    assert (row['top1'], row['top1_min'], row['top1_max']) == (pytest.approx(2 / 3), 0.25, 1.0)
    assert row['layers']['backbone.layer3.1.conv2.conv.conv_s'] == pytest.approx(0.25)
    assert row['pruned_share_max'] == pytest.approx(0.25)
    pruned = int((~masks['backbone.layer3.1.conv2.conv.conv_s']).sum())
    assert row['params'] == row['dense_params'] - pruned
    assert 1 < row['flop_reduction'] < 1.01  # a quarter of one small late layer's FLOPs
