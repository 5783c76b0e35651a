"""Kill a training run with SIGKILL after a checkpoint, restart the same command with
``--resume``, and check that it goes on from the last checkpoint with all its state
(``tests/e2e/probes/sigkill_hook.py`` does the kills).

- RT3D KGS, mmaction2's tools/train.py, a checkpoint every epoch: killed in epoch 1 (before
  the prune, where the reweighted penalty's α matter) and again in epoch 3 (after it, where
  the masks matter). The resumed run ends with the uninterrupted run's weights, masks and
  optimizer state.
- Gumbel SkipConv pose, mmpose's tools/train.py in an ``IterBasedTrainLoop``, a checkpoint
  every 3 iterations: killed in the middle of an epoch. The resumed run skips the batches
  already trained and goes on with the uninterrupted run's learning rates, gate temperatures,
  Adam state and scheduler state. Its weights are not compared: the Gumbel noise comes from
  torch's global RNG, which mmengine's checkpoints do not hold.
"""
import json
import signal
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest
import torch

from tests.e2e.test_distributed_train import (REPO, pose_clips, run_script, run_training,
                                              toolbox_tool, with_hook)
from tests.e2e.test_mmaction_tools import dataset_options

KGS = REPO / 'configs/rt3d/r2plus1d-tiny-kgs-2x_1xb8-8x1x1-8e_synthetic-actions-rgb.py'
GUMBEL = REPO / 'configs/pose/td-hm_hrnet-tiny-skipconv-gumbel_1xb8x4-3e_synthetic-jhmdb-64x64.py'
PROBE = 'tests.e2e.probes.sigkill_hook'


def killed(done: subprocess.CompletedProcess, nproc: int = 1) -> str:
    """The log of a run killed with SIGKILL (under torchrun: a worker's, which ends the run)."""
    log = done.stdout + done.stderr
    if nproc == 1:
        assert done.returncode == -signal.SIGKILL, log[-4000:]
    else:
        assert done.returncode != 0 and 'SIGKILL' in log, log[-4000:]
    return log


def finished(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done.stdout + done.stderr


def last_checkpoint(work: Path) -> str:
    return Path((work / 'last_checkpoint').read_text()).name


def interrupted_and_whole(config: Path, tmp: Path, kills: List[int], extra: str) -> tuple:
    """The configs of the run killed before the iterations ``kills`` and of the whole run
    (the same, with a SigkillHook that never fires)."""
    return tuple(
        with_hook(config, tmp / f'{name}.py', PROBE, dict(type='SigkillHook', at_iters=at), extra)
        for name, at in (('killed', kills), ('whole', [])))


@pytest.mark.parametrize('nproc', [1, 2])
def test_kgs_run_killed_twice_resumes_to_the_uninterrupted_weights(tmp_path, nproc):
    tool = toolbox_tool('mmaction', 'train.py')
    data = tmp_path / 'data'
    run_script([
        REPO / 'tools/generate_synthetic_actions.py', data, '--train', '2', '--val', '1',
        '--frames', '8', '--size', '32', '32'
    ], tmp_path)
    # 8 videos in batches of 2 per process; α refreshed at epoch 0 only, the prune at epoch 2; a
    # stronger penalty than the config's, so that α shows in the weights
    options = [
        *dataset_options(data), 'load_from=None', 'train_cfg.max_epochs=4',
        'train_cfg.val_interval=100', 'train_dataloader.batch_size=2',
        'default_hooks.checkpoint.interval=1', 'custom_hooks.0.prune_epoch=2',
        'custom_hooks.0.reweight_interval=2', 'custom_hooks.0.penalty=1e-4'
    ]
    per_epoch = 4 // nproc  # iterations
    killed_config, whole_config = interrupted_and_whole(
        KGS, tmp_path, [int(1.5 * per_epoch), int(3.5 * per_epoch)], '')  # in epochs 1 and 3
    work = tmp_path / 'killed'
    killed(run_training(tool, killed_config, work, options, nproc), nproc)
    assert last_checkpoint(work) == 'epoch_1.pth'
    log = killed(run_training(tool, killed_config, work, options, nproc, resume=True), nproc)
    assert f'resumed epoch: 1, iter: {per_epoch}' in log
    assert last_checkpoint(work) == 'epoch_3.pth'  # after the prune
    log = finished(run_training(tool, killed_config, work, options, nproc, resume=True))
    assert f'resumed epoch: 3, iter: {3 * per_epoch}' in log
    finished(run_training(tool, whole_config, tmp_path / 'whole', options, nproc))

    resumed, whole = (torch.load(path / 'epoch_4.pth', weights_only=True)
                      for path in (work, tmp_path / 'whole'))
    masks = [key for key in whole['state_dict'] if key.endswith('weight_mask')]
    assert masks and not all(whole['state_dict'][key].all() for key in masks)  # pruned
    for key, value in whole['state_dict'].items():
        torch.testing.assert_close(resumed['state_dict'][key], value, rtol=0, atol=1e-6,
                                   msg=lambda m, key=key: f'{key}: {m}')
    for index, state in whole['optimizer']['state'].items():
        torch.testing.assert_close(resumed['optimizer']['state'][index], state, rtol=0, atol=1e-6)
    assert resumed['param_schedulers'] == whole['param_schedulers']


def logged_by_iter(work: Path) -> Dict[int, dict]:
    """{iteration: its logged scalars} of every run in ``work`` (later runs win)."""
    records = {}
    for path in sorted(work.glob('*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if 'lr' in record:
                records[record['iter']] = record
    return records


def test_gumbel_pose_run_killed_mid_epoch_resumes_schedule_temperature_and_optimizer(tmp_path):
    tool = toolbox_tool('mmpose', 'train.py')
    config, options = pose_clips(GUMBEL, tmp_path)  # 4 clips in batches of 2: 2 per epoch
    extra = ("train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=6, "
             'val_interval=100)\n'
             "param_scheduler = [dict(type='ConstantLR', factor=0.5, by_epoch=False, begin=0, "
             'end=4)]\n'
             'default_hooks = dict(checkpoint=dict(interval=3, by_epoch=False), '
             'logger=dict(interval=1))\n'
             'log_processor = dict(by_epoch=False)\n')
    killed_config, whole_config = interrupted_and_whole(config, tmp_path, [3], extra)
    work = tmp_path / 'killed'
    killed(run_training(tool, killed_config, work, options))  # after iter_3.pth, mid-epoch 1
    assert last_checkpoint(work) == 'iter_3.pth'
    log = finished(run_training(tool, killed_config, work, options, resume=True))
    assert 'resumed epoch: 0, iter: 3' in log and 'Advance dataloader 3 steps' in log
    finished(run_training(tool, whole_config, tmp_path / 'whole', options))

    resumed, whole = logged_by_iter(work), logged_by_iter(tmp_path / 'whole')
    assert sorted(resumed) == sorted(whole) == [1, 2, 3, 4, 5, 6]
    for step in (4, 5, 6):  # the iterations after the resume
        for key in ('lr', 'gate_temperature'):
            assert resumed[step][key] == whole[step][key], (step, key)
    assert resumed[4]['lr'] == 2 * resumed[3]['lr']  # ConstantLR ended at iteration 4
    final = torch.load(work / 'iter_6.pth', weights_only=True)
    steps = {float(state['step']) for state in final['optimizer']['state'].values()}
    assert steps == {6.0}, f'Adam restarted on resume: steps {steps}'
    reference = torch.load(tmp_path / 'whole' / 'iter_6.pth', weights_only=True)
    assert final['param_schedulers'] == reference['param_schedulers']
