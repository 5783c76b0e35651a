"""Two processes on the CPU under mmengine's own launcher: ``torchrun --nproc_per_node 2``
with mmaction2's stock ``tools/train.py --launcher pytorch`` and an unchanged config (its
inherited ``dist_cfg`` asks for nccl), which mmeff's import makes run with gloo."""
import math
import os
import subprocess
import sys

import pytest
import torch

from tests.e2e.test_mmaction_tools import CONFIG, REPO, dataset_options, mmaction_tool


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the path without a GPU')
def test_two_cpu_processes_train_and_validate_with_identical_weights(tmp_path):
    train_tool = mmaction_tool('train.py')
    data = tmp_path / 'data'
    subprocess.run([
        sys.executable, REPO / 'tools/generate_synthetic_actions.py', data, '--train', '16',
        '--val', '4', '--frames', '8', '--size', '32', '32'
    ], check=True, capture_output=True)
    config = tmp_path / 'two_ranks.py'
    config.write_text(f'''_base_ = {str(CONFIG)!r}
custom_imports = dict(imports=['mmeff', 'tests.e2e.probes.rank_weights_hook'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='RankWeightsHook')]
train_cfg = dict(max_epochs=1, val_interval=1)
''')
    paths = dataset_options(data)
    work = tmp_path / 'work'
    torchrun = [
        sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2'
    ]
    done = subprocess.run([
        *torchrun, train_tool, config, '--work-dir', work, '--launcher', 'pytorch', '--cfg-options',
        'randomness.seed=0', *paths
    ], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1'))
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "dist_cfg.backend='nccl' needs a GPU and none is visible: using 'gloo'" in log
    assert 'Distributed training: True' in log and 'Epoch(val) [1]' in log
    losses = [
        float(line.split('loss: ')[1].split()[0]) for line in log.splitlines()
        if 'Epoch(train)' in line and 'loss: ' in line
    ]
    assert losses and all(math.isfinite(loss) for loss in losses)
    ranks = [torch.load(work / f'rank{rank}.pth', weights_only=True) for rank in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    for name, weight in ranks[0].items():
        assert torch.equal(weight, ranks[1][name]), f'{name} differs between the ranks'
