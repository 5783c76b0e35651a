"""The trainings of the RT3D synthetic sweep (``tools/rt3d_synthetic_sweep.py``): mmaction2's
``tools/train.py`` per seed, scheme and FLOP reduction, finished runs reused, and the result row
of one scheme from its logged accuracies and its pruned checkpoint's report."""
import json
import os
import subprocess
import sys
from pathlib import Path
from statistics import mean
from typing import Dict, List, Sequence

from ..utils.pruning_report import report_checkpoint
from .record import REPO

CONFIGS = REPO / 'configs' / 'rt3d'
DENSE = CONFIGS / 'r2plus1d-tiny_1xb8-8x1x1-8e_synthetic-actions-rgb.py'
INPUT_SHAPE = (1, 3, 8, 32, 32)


def train_tool() -> Path:
    import mmaction
    tool = Path(mmaction.__file__).parent / '.mim' / 'tools' / 'train.py'
    if not tool.is_file():
        raise FileNotFoundError(f'mmaction2 ships no {tool} (needs a wheel install with .mim)')
    return tool


def dataset_options(data: Path) -> List[str]:
    """``--cfg-options`` that point the train and val loaders at the videos in ``data``."""
    return [
        f'{loader}_dataloader.dataset.{key}'
        for loader, split in (('train', 'train'), ('val', 'val'))
        for key in (f'ann_file={data}/{split}_list.txt', f'data_prefix.video={data}/videos')
    ]


def train(config: Path, work: Path, options: Sequence[str], threads: int) -> Path:
    """Run mmaction2's tools/train.py (log in ``work/train.log``) unless ``work`` holds its last
    checkpoint already; returns the last checkpoint."""
    if (work / 'last_checkpoint').is_file():
        return Path((work / 'last_checkpoint').read_text().strip())
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(threads))
    argv = [
        sys.executable, '-W', 'ignore',
        str(train_tool()),
        str(config), '--work-dir',
        str(work), '--cfg-options', *options
    ]
    print(f'[rt3d] training {config.name} in {work}', flush=True)
    with open(work / 'train.log', 'w') as log:
        subprocess.run(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    return Path((work / 'last_checkpoint').read_text().strip())


def run_dir(root: Path, seed: int, scheme: str, reduction: int) -> Path:
    """The work dir of one training of the sweep."""
    return root / f'seed{seed}' / ('dense' if scheme == 'dense' else f'{scheme}-{reduction}x')


def last_top1(work: Path) -> float:
    """The last validation ``acc/top1`` that the training in ``work`` logged."""
    lines = sorted(work.glob('*/vis_data/scalars.json'))[-1].read_text().splitlines()
    return [json.loads(line)['acc/top1'] for line in lines if 'acc/top1' in line][-1]


def result_row(scheme: str, target: float, config: Path, works: Sequence[Path],
               checkpoint: Path) -> Dict[str, object]:
    """One scheme at one target: the top-1 of each seed's run in ``works``, and the report of
    ``checkpoint`` (the first seed's)."""
    report = report_checkpoint(str(config), str(checkpoint), INPUT_SHAPE)
    shares = {layer.name: layer.pruned_share for layer in report.layers}
    top1 = [last_top1(work) for work in works]
    return dict(scheme=scheme, target=target, top1=mean(top1), top1_min=min(top1),
                top1_max=max(top1), top1_per_seed=top1, flop_reduction=report.flop_reduction,
                mflops=report.kept_flops / 1e6, params=report.kept_params,
                pruned_share_max=max(shares.values()), dense_mflops=report.flops / 1e6,
                dense_params=report.params, layers=shares)
