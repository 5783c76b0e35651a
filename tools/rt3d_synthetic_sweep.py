"""Accuracy of KGS, vanilla and filter pruning at equal FLOPs: the RT3D chain on synthetic actions.

    python tools/rt3d_synthetic_sweep.py [--schemes kgs vanilla filter] [--reductions 2 3]
        [--seeds 0 1 2] [--work-dir work_dirs/rt3d-sweep] [--json OUT]

Writes the synthetic action videos (if the work dir has none); then, per seed, trains the dense
stage ``configs/rt3d/r2plus1d-tiny_1xb8-8x1x1-8e_synthetic-actions-rgb.py`` with mmaction2's
``tools/train.py`` and, for every scheme and FLOP reduction,
``configs/rt3d/r2plus1d-tiny-<scheme>-<R>x_*.py`` from that dense checkpoint (reweighted group
lasso, hard prune, masked retraining; the same schedule for all). A run whose work dir
(``<work-dir>/seed<S>/<scheme>-<R>x``) already holds its last checkpoint is not trained again.
Each row holds the final validation top-1 (mean over the seeds, and each seed's) and the pruned
model's report (:mod:`mmeff.utils.pruning_report`) of the first seed: FLOPs and parameters kept,
and the share pruned per layer (``layers`` in the JSON rows).
"""
import argparse
from pathlib import Path
from typing import Optional, Sequence

from mmeff.benchmark.record import REPO, Column, make_record, publish_record
from mmeff.benchmark.rt3d_sweep import CONFIGS, DENSE, dataset_options, result_row, run_dir, train
from mmeff.utils import write_action_dataset

COLUMNS = (Column('scheme', 'scheme'), Column('target', 'FLOP target',
                                              '.0f'), Column('top1', 'val top-1', '.3f'),
           Column('flop_reduction', 'FLOP reduction',
                  '.2f'), Column('mflops', 'MFLOPs', '.2f'), Column('params', 'params'),
           Column('pruned_share_max', 'max share pruned in a layer', '.2f'))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--schemes', nargs='+', default=['kgs', 'vanilla', 'filter'],
                        choices=['kgs', 'vanilla', 'filter'])
    parser.add_argument('--reductions', nargs='+', type=int, default=[2, 3], choices=[2, 3])
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--work-dir', type=Path, default=REPO / 'work_dirs' / 'rt3d-sweep')
    parser.add_argument('--videos', type=int, nargs=2, default=(40, 16), metavar=('TRAIN', 'VAL'),
                        help='synthetic videos per class (8 frames of 32x32)')
    parser.add_argument('--threads', type=int, default=1, help='torch threads of each training')
    parser.add_argument('--json', help='write the benchmark record here')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    data = args.work_dir / 'data'
    if not (data / 'val_list.txt').is_file():
        write_action_dataset(data, dict(train=args.videos[0], val=args.videos[1]), 8, (32, 32), 0)
    runs = [('dense', 1, DENSE)] + [
        (scheme, reduction,
         CONFIGS / f'r2plus1d-tiny-{scheme}-{reduction}x_1xb8-8x1x1-8e_synthetic-actions-rgb.py')
        for scheme in args.schemes for reduction in args.reductions
    ]
    checkpoints = {}
    for seed in args.seeds:
        options = [f'randomness.seed={seed}', *dataset_options(data)]
        dense = train(DENSE, run_dir(args.work_dir, seed, 'dense', 1), options, args.threads)
        checkpoints[seed, 'dense', 1] = dense
        for scheme, reduction, config in runs[1:]:
            checkpoints[seed, scheme,
                        reduction] = train(config, run_dir(args.work_dir, seed, scheme, reduction),
                                           [*options, f'load_from={dense}'], args.threads)
    rows = [
        result_row(scheme, reduction, config,
                   [run_dir(args.work_dir, seed, scheme, reduction)
                    for seed in args.seeds], checkpoints[args.seeds[0], scheme, reduction])
        for scheme, reduction, config in runs
    ]
    description = (
        'The RT3D chain on the synthetic motion dataset (4 classes, 8x32x32 clips): a tiny '
        'R(2+1)D trained dense, then each scheme (4x4 kernel groups) from the dense checkpoint: '
        'reweighted group lasso (3 epochs), hard prune to one ratio per model that divides the '
        'conv FLOPs by the target, masked retraining (5 epochs); each seed trains its own dense '
        "model. Top-1 on 64 validation videos. FLOP reduction: the whole model's (mmengine's "
        'FlopAnalyzer), convs and the rest, of the first seed.')
    publish_record(
        make_record(
            'rt3d_synthetic', 'RT3D: accuracy at equal FLOPs on synthetic actions', description,
            COLUMNS, rows,
            dict(schemes=args.schemes, reductions=args.reductions,
                 videos=list(args.videos)), args.threads), args.json)


if __name__ == '__main__':
    main()
