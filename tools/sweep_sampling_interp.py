"""Accuracy vs backbone MACs: sampling-interpolation against shrinking the input.

Trains, each with mmdet's own ``tools/train.py`` and the same schedule, the SparseResNet
RetinaNet of ``configs/sampling_interp`` at several sparse-loss weights gamma and the dense
RetinaNet at several input sizes, on mmeff's synthetic video detection data (written first
when ``--data`` has none). Each run's final validation gives COCO mAP and, from
``FrameMacsMetric``, the executed GMACs per frame of the backbone (sparse charges: mask heads
and interpolation included) and of the whole detector. Prints the table, writes the JSON
record (``--json``) and the plot of mAP vs backbone GMACs (``--plot``; the benchmark page's
renderer draws the same plot from the record)::

    nice -n 10 python tools/sweep_sampling_interp.py --json \\
        docs/benchmarks/sampling_interp_sweep.json --plot docs/benchmarks/sampling_interp_sweep.png
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import mmdet

from mmeff.benchmark import Column, make_record, publish_record
from mmeff.benchmark.report import plot_sampling_interp_sweep
from mmeff.utils import SyntheticDetectionConfig, write_synthetic_detection

REPO = Path(__file__).resolve().parents[1]
MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'
CONFIGS = REPO / 'configs' / 'sampling_interp'
SPARSE = CONFIGS / 'retinanet_sparse-r50-w16_fpn-c64_1xb8-6e_synthvid-128x128.py'
DENSE = CONFIGS / 'retinanet_r50-w16_fpn-c64_1xb8-6e_synthvid-{size}x{size}.py'

TITLE = 'Sampling-interpolation vs smaller inputs: COCO mAP against backbone MACs'
DESCRIPTION = (
    'RetinaNet with a ResNet-50 of base width 16 (64-channel FPN and head), trained from '
    'scratch with mmdet tools/train.py on the synthetic video detection data: SparseResNet at '
    'several sparse-loss weights gamma (128x128 input) against the dense ResNet at smaller '
    'inputs, same schedule and seed. GMACs per frame at validation (FrameMacsMetric): the '
    "backbone's executed conv MACs, mask heads and interpolation charged; the detector's, "
    'FPN and head included. Share: of the dense backbone at the largest input.')
COLUMNS = [
    Column('model', 'model'),
    Column('input', 'input'),
    Column('gamma', 'gamma'),
    Column('map', 'mAP', '.3f'),
    Column('map50', 'mAP@50', '.3f'),
    Column('backbone_gmacs', 'backbone GMACs', '.4f'),
    Column('backbone_share', 'backbone share', '.2f'),
    Column('detector_gmacs', 'detector GMACs', '.4f'),
    Column('train_mac_share', 'train MAC share', '.2f'),
    Column('loss_first', 'first det. loss', '.3f'),
    Column('loss_last', 'last det. loss', '.3f'),
]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', default='data/synthetic_det', help='dataset root')
    parser.add_argument('--work-dir', default='work_dirs/sampling_interp_sweep')
    parser.add_argument('--gammas', type=float, nargs='*', default=[0.02, 0.1, 0.5],
                        help='sparse-loss weights of the SparseResNet runs')
    parser.add_argument('--sizes', type=int, nargs='*', default=[128, 96, 64],
                        help='input sizes of the dense runs (a config exists for each)')
    parser.add_argument('--epochs', type=int, default=None,
                        help="training epochs (default: the configs' schedule)")
    parser.add_argument('--warmup-iters', type=int, default=20,
                        help='linear warm-up iterations when --epochs is given')
    parser.add_argument('--threads', type=int, default=1, help='OMP threads of each run')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', default=None, help='write the record here')
    parser.add_argument('--plot', default=None, help='write the PNG plot here')
    args = parser.parse_args(argv)
    if not args.gammas and not args.sizes:
        parser.error('--gammas and --sizes are both empty: nothing to train')
    for size in args.sizes:
        if not Path(str(DENSE).format(size=size)).is_file():
            parser.error(f'--sizes: no dense config for {size}x{size} in {CONFIGS}')
    if any(g < 0 for g in args.gammas):
        parser.error('--gammas must be >= 0')
    return args


def schedule_overrides(epochs: int, warmup_iters: int) -> str:
    """Config lines that train for ``epochs``: linear warm-up, then the configs' cosine decay."""
    return (f'train_cfg = dict(max_epochs={epochs}, val_interval={epochs})\n'
            'param_scheduler = [\n'
            "    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, "
            f'end={warmup_iters}),\n'
            f"    dict(type='CosineAnnealingLR', eta_min=0.0, begin=0, T_max={epochs}, "
            f'end={epochs}, by_epoch=True, convert_to_iter_based=True)\n]\n'
            f'default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval={epochs}))\n')


def run_config(base: Path, data: Path, args: argparse.Namespace, gamma: Optional[float]) -> str:
    """The text of one run's config: ``base`` on ``data``, every iteration logged, the
    schedule of ``--epochs`` if given, gamma for a sparse run."""
    text = (f"_base_ = '{base}'\n"
            f"data_root = '{data}/'\n"
            'train_dataloader = dict(dataset=dict(data_root=data_root))\n'
            'val_dataloader = dict(dataset=dict(data_root=data_root))\n'
            'test_dataloader = val_dataloader\n'
            "val_evaluator = [dict(type='CocoMetric', metric='bbox', "
            "ann_file=data_root + 'annotations/val.json'), dict(type='FrameMacsMetric')]\n"
            'test_evaluator = val_evaluator\n'
            f'randomness = dict(seed={args.seed})\n')
    text += schedule_overrides(args.epochs, args.warmup_iters) if args.epochs is not None else \
        'default_hooks = dict(logger=dict(interval=1))\n'
    if gamma is not None:
        text += f'model = dict(backbone=dict(sparse_loss_weight={gamma!r}))\n'
    return text


def train(config_text: str, work_dir: Path, threads: int) -> List[Dict]:
    """Run mmdet's tools/train.py on the config; return its scalars.json records."""
    work_dir.mkdir(parents=True, exist_ok=True)
    config = work_dir / 'config.py'
    config.write_text(config_text)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env['PYTHONPATH'] = os.pathsep.join(p for p in (str(REPO), env.get('PYTHONPATH')) if p)
    with open(work_dir / 'train.log', 'w') as log:
        done = subprocess.run([
            sys.executable,
            str(MMDET_TOOLS / 'train.py'),
            str(config), '--work-dir',
            str(work_dir)
        ], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f'training failed ({done.returncode}); see {work_dir / "train.log"}')
    scalars = sorted(work_dir.glob('*/vis_data/scalars.json'))[-1]
    return [json.loads(line) for line in scalars.read_text().splitlines()]


def mean(values: List[float]) -> float:
    return sum(values) / len(values)


def summarise(scalars: List[Dict]) -> Dict[str, float]:
    """Final validation metrics and the training trend: the detection loss (the total less
    the density losses), means of its first and last three logged values; the last logged MAC
    share of the sparse blocks (None for a dense run)."""
    final = [r for r in scalars if 'coco/bbox_mAP' in r][-1]
    losses = [
        r['loss'] - r.get('loss_sparse', 0.0) - r.get('loss_budget', 0.0) for r in scalars
        if 'loss' in r
    ]
    shares = [r['mac_share'] for r in scalars if 'mac_share' in r]
    return dict(map=final['coco/bbox_mAP'], map50=final['coco/bbox_mAP_50'],
                backbone_gmacs=final['macs/backbone_executed_gmacs'],
                backbone_dense_gmacs=final['macs/backbone_dense_gmacs'],
                detector_gmacs=final['macs/executed_gmacs'],
                train_mac_share=shares[-1] if shares else None, loss_first=mean(losses[:3]),
                loss_last=mean(losses[-3:]))


def ensure_data(root: Path) -> None:
    """The synthetic dataset at its generator's defaults, unless ``root`` holds one."""
    if (root / 'annotations' / 'val.json').is_file():
        return
    cfg = SyntheticDetectionConfig()
    write_synthetic_detection(str(root), 'train', 8, cfg, first_seed=0)
    write_synthetic_detection(str(root), 'val', 2, cfg, first_seed=10000)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    data, work = Path(args.data).resolve(), Path(args.work_dir).resolve()
    ensure_data(data)
    runs = [(f'sparse_gamma{g}', SPARSE, g, 'SparseResNet', '128x128', f'{g:g}')
            for g in args.gammas]
    runs += [(f'dense_{s}', Path(str(DENSE).format(size=s)), None, 'ResNet', f'{s}x{s}', '-')
             for s in args.sizes]
    rows = []
    for name, config, gamma, model, size, gamma_label in runs:
        print(f'training {name} ...', flush=True)
        summary = summarise(train(run_config(config, data, args, gamma), work / name, args.threads))
        rows.append(dict(summary, model=model, input=size, gamma=gamma_label))
    full = max(r['backbone_dense_gmacs'] for r in rows)
    for row in rows:
        row['backbone_share'] = row['backbone_gmacs'] / full
    settings = dict(gammas=args.gammas, sizes=args.sizes, epochs=args.epochs, seed=args.seed,
                    sparse_config=str(SPARSE.relative_to(REPO)), data=args.data)
    record = make_record('sampling_interp_sweep', TITLE, DESCRIPTION, COLUMNS, rows, settings,
                         threads=args.threads)
    publish_record(record, args.json)
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        plot_sampling_interp_sweep(record, Path(args.plot))


if __name__ == '__main__':
    main()
