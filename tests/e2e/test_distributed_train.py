"""Each family's training config in 2 processes: ``torchrun --nproc_per_node 2`` with its
toolbox's own ``tools/train.py --launcher pytorch``, a few iterations on tiny synthetic data.
The losses are finite and both ranks end with identical weights (parameters and buffers,
``tests/e2e/probes/rank_weights_hook.py``). The MoViNet run is in test_cpu_distributed.py."""
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, List, NamedTuple, Tuple

import pytest
import torch
from mmengine.config import Config

from mmeff.utils import SyntheticDetectionConfig, write_synthetic_detection
from tests.e2e.test_mmaction_tools import dataset_options
from tests.e2e.test_mmdet_tools import write_config

REPO = Path(__file__).resolve().parents[2]


def toolbox_tool(toolbox: str, name: str) -> Path:
    """``<toolbox>/.mim/tools/<name>`` (skips where the toolbox or its tools are missing)."""
    package = pytest.importorskip(toolbox, reason=f'{toolbox} is not installed')
    tool = Path(package.__file__).parent / '.mim' / 'tools' / name
    if not tool.exists():
        pytest.skip(reason=f'{toolbox} ships no {tool} (needs a wheel install with .mim)')
    return tool


def run_script(args: list, cwd: Path) -> None:
    done = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def with_hook(config: Path, out: Path, module: str, hook: dict, extra: str = '') -> Path:
    """A config ``out`` on top of ``config`` that also imports ``module`` and runs ``hook``
    (after the config's own imports and hooks); ``extra`` is appended."""
    base = Config.fromfile(str(config))
    imports = [*base.get('custom_imports', {}).get('imports', []), module]
    hooks = [*map(dict, base.get('custom_hooks', [])), hook]
    out.write_text(f'_base_ = {str(config)!r}\n'
                   f'custom_imports = dict(imports={imports!r}, allow_failed_imports=False)\n'
                   f'custom_hooks = {hooks!r}\n' + extra)
    return out


def run_training(tool: Path, config: Path, work: Path, options: List[str], nproc: int = 1,
                 resume: bool = False) -> subprocess.CompletedProcess:
    """``tool config`` in one process, or in ``nproc`` under ``torchrun --standalone`` with
    ``--launcher pytorch``; ``--resume``: from the work dir's last checkpoint."""
    launcher = [] if nproc == 1 else [
        '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
        str(nproc)
    ]
    return subprocess.run([
        sys.executable, *launcher, tool, config, '--work-dir', work,
        *(['--launcher', 'pytorch'] if nproc > 1 else []), *(['--resume'] if resume else []),
        '--cfg-options', 'randomness.seed=0', *options
    ], cwd=work.parent, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1'))


def torchrun_train(tool: Path, config: Path, work: Path, options: List[str], nproc: int = 2) -> str:
    """:func:`run_training` in ``nproc`` processes; the log (asserting success)."""
    done = run_training(tool, config, work, options, nproc)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-5000:]
    assert 'Distributed training: True' in log
    return log


def train_losses(log: str) -> List[float]:
    """The ``loss`` of every logged training iteration."""
    return [
        float(line.split(' loss: ')[1].split()[0]) for line in log.splitlines()
        if 'Epoch(train)' in line and ' loss: ' in line
    ]


def assert_ranks_identical(work: Path, ranks: int = 2) -> None:
    """Every rank's saved state dict equals rank 0's, entry by entry."""
    states = [torch.load(work / f'rank{rank}.pth', weights_only=True) for rank in range(ranks)]
    for rank, state in enumerate(states[1:], 1):
        assert state.keys() == states[0].keys()
        for name, value in states[0].items():
            assert torch.equal(value, state[name]), f'{name} differs between rank 0 and {rank}'


class Family(NamedTuple):
    toolbox: str
    config: Path
    #: (config, tmp_path) -> (the config to train, its --cfg-options); writes the tiny data
    prepare: Callable[[Path, Path], Tuple[Path, List[str]]]
    #: a log line's text that shows the family's own training piece at work
    marker: str


def pose_clips(config: Path, tmp: Path) -> Tuple[Path, List[str]]:
    """2 synthetic pose videos of 8 frames: clips of 4 frames, stride 4, 2 clips a batch."""
    root = tmp / 'data'
    run_script([
        REPO / 'tools/generate_synthetic_pose_videos.py', root, '--train', '2', '--test', '1',
        '--frames', '8'
    ], tmp)
    return config, [
        f'{loader}.data_root={root}/'
        for loader in ('train_dataloader.dataset.dataset', 'val_dataloader.dataset.dataset',
                       'test_dataloader.dataset.dataset')
    ] + ['train_dataloader.dataset.clip_stride=4', 'train_dataloader.batch_size=2']


def one_epoch(prepare: Callable[[Path, Path], Tuple[Path, List[str]]]) -> Callable:
    """``prepare``, with one epoch and no validation."""

    def prepare_one_epoch(config: Path, tmp: Path) -> Tuple[Path, List[str]]:
        config, options = prepare(config, tmp)
        return config, [*options, 'train_cfg.max_epochs=1', 'train_cfg.val_begin=100']

    return prepare_one_epoch


def synthetic_detection(extra: str = '') -> Callable[[Path, Path], Tuple[Path, List[str]]]:
    """The ``prepare`` of an mmdet family: 2 + 1 synthetic videos of 8 frames of 128x128 and
    one epoch (2 iterations of 4 frames per rank), ``extra`` appended to the config."""

    def prepare(config: Path, tmp: Path) -> Tuple[Path, List[str]]:
        data = tmp / 'data'
        cfg = SyntheticDetectionConfig(frames=8, height=128, width=128, objects=1, min_size=0.25,
                                       max_size=0.45)
        write_synthetic_detection(str(data), 'train', 2, cfg, first_seed=0)
        write_synthetic_detection(str(data), 'val', 1, cfg, first_seed=10000)
        return Path(
            write_config(tmp / 'model.py', config, data, evaluator='video',
                         extra='train_cfg = dict(max_epochs=1, val_begin=100)\n' + extra)), []

    return prepare


def synthetic_actions(config: Path, tmp: Path) -> Tuple[Path, List[str]]:
    """1 synthetic action video per class, batches of 2, 2 epochs with the prune at epoch 1."""
    data = tmp / 'data'
    run_script([
        REPO / 'tools/generate_synthetic_actions.py', data, '--train', '1', '--val', '1',
        '--frames', '8', '--size', '32', '32'
    ], tmp)
    return config, [
        *dataset_options(data), 'load_from=None', 'train_cfg.max_epochs=2',
        'train_cfg.val_begin=100', 'train_dataloader.batch_size=2', 'custom_hooks.0.prune_epoch=1'
    ]


# Gumbel clips: batches of 2 clips of 4 frames (the VideoClipSampler deals clips to the ranks)
GUMBEL_CLIPS = ('train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False,'
                ' dataset=dict(data_root=data_root))\nparam_scheduler = []\n')
FAMILIES = {
    'pose-skipconv-gumbel':
    Family(
        'mmpose', REPO / 'configs/pose/td-hm_hrnet-tiny-skipconv-gumbel_1xb8x4-3e_'
        'synthetic-jhmdb-64x64.py', one_epoch(pose_clips), 'loss_gate'),
    'efficientdet':
    Family('mmdet', REPO / 'configs/efficientdet/efficientdet_effb0_bifpn_1xb8-24e_'
           'synthvid-128x128.py', synthetic_detection(), 'loss_cls'),
    'efficientdet-skipconv-gumbel':
    Family(
        'mmdet', REPO / 'configs/efficientdet/efficientdet_effb0_bifpn-skipconv-gumbel_'
        '1xb2x4-6e_synthvid-128x128.py', synthetic_detection(GUMBEL_CLIPS), 'loss_gate'),
    'condconv-efficientdet':
    Family('mmdet', REPO / 'configs/condconv/efficientdet_effb0-cc4e_bifpn_1xb8-24e_'
           'synthvid-128x128.py', synthetic_detection(), 'loss_cls'),
    'sampling-interp-retinanet':
    Family(
        'mmdet', REPO / 'configs/sampling_interp/retinanet_sparse-r50-w16_fpn-c64_'
        '1xb8-6e_synthvid-128x128.py', synthetic_detection(), 'loss_sparse'),
    'rt3d-kgs':
    Family('mmaction', REPO / 'configs/rt3d/r2plus1d-tiny-kgs-2x_1xb8-8x1x1-8e_'
           'synthetic-actions-rgb.py', synthetic_actions, 'KernelGroupPruningHook: pruned kgs'),
}


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='checks the CPU (gloo) path; a GPU '
    'machine runs the same commands with nccl')
@pytest.mark.parametrize('name', list(FAMILIES))
def test_two_processes_train_with_finite_losses_and_identical_weights(name, tmp_path):
    family = FAMILIES[name]
    tool = toolbox_tool(family.toolbox, 'train.py')
    config, options = family.prepare(family.config, tmp_path)
    config = with_hook(config, tmp_path / 'two_ranks.py', 'tests.e2e.probes.rank_weights_hook',
                       dict(type='RankWeightsHook'),
                       'default_hooks = dict(logger=dict(interval=1))\n')
    work = tmp_path / 'work'
    log = torchrun_train(tool, config, work, options)
    assert family.marker in log
    losses = train_losses(log)
    assert losses and all(math.isfinite(loss) for loss in losses), losses
    assert_ranks_identical(work)
