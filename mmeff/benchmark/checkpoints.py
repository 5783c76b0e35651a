"""Checkpoints of the synthetic-data configs, trained once and cached.

No pretrained weights can be downloaded on the project's machines, so the demo and the
benchmarks train the configs they measure on the project's synthetic data, with mmengine's
runner, and cache the last epoch's checkpoint under a folder keyed on the config's content and
the dataset's settings: a changed config or dataset trains anew, an unchanged one is reused.

    python -m mmeff.benchmark.checkpoints pose CONFIG [--height 240 --width 320]
    python -m mmeff.benchmark.checkpoints detection CONFIG
    python -m mmeff.benchmark.checkpoints people CONFIG

print the cached checkpoint's path (training first when it is missing), so a command can name
the weights of a config as ``--checkpoint $(python -m mmeff.benchmark.checkpoints pose CONFIG)``.
"""
import argparse
import hashlib
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from mmengine.config import Config
from mmengine.logging import print_log

from mmeff.utils.synthetic_detection import (SyntheticDetectionConfig, write_synthetic_detection,
                                             write_synthetic_people)
from mmeff.utils.synthetic_pose_dataset import (SyntheticPoseDatasetConfig, default_dataset_config,
                                                write_jhmdb_dataset)
from mmeff.utils.synthetic_video import SyntheticVideoConfig

DEFAULT_CACHE = Path.home() / '.cache' / 'mmeff' / 'checkpoints'


@dataclass(frozen=True)
class DetectionDataset:
    """The synthetic detection videos of ``tools/generate_synthetic_detection.py``."""
    train_videos: int = 8
    val_videos: int = 2
    video: SyntheticDetectionConfig = field(default_factory=SyntheticDetectionConfig)


@dataclass(frozen=True)
class PeopleDetectionDataset:
    """The walking-figure videos as a person-detection set (``write_synthetic_people``)."""
    train_videos: int = 12
    val_videos: int = 2
    video: SyntheticVideoConfig = field(default_factory=lambda: SyntheticVideoConfig(
        frames=16, height=96, width=128, figures=3, max_speed=3.0, figure_scale=0.3))


Dataset = Union[SyntheticPoseDatasetConfig, DetectionDataset, PeopleDetectionDataset]
COCO_DATASETS = (DetectionDataset, PeopleDetectionDataset)


def cached_checkpoint_path(config: Path, dataset: Dataset, cache_dir: Path = DEFAULT_CACHE) -> Path:
    """Where the checkpoint of ``config`` trained on ``dataset`` is cached."""
    text = Config.fromfile(str(config)).pretty_text
    key = hashlib.sha256(f'{text}\n{dataset}'.encode()).hexdigest()[:16]
    return Path(cache_dir) / f'{Path(config).stem}-{key}' / 'dense.pth'


def _write_dataset(root: Path, dataset: Dataset) -> None:
    if isinstance(dataset, DetectionDataset):
        write_synthetic_detection(str(root), 'train', dataset.train_videos, dataset.video)
        write_synthetic_detection(str(root), 'val', dataset.val_videos, dataset.video,
                                  first_seed=10000)  # disjoint from the training videos
    elif isinstance(dataset, PeopleDetectionDataset):
        write_synthetic_people(str(root), 'train', dataset.train_videos, dataset.video)
        write_synthetic_people(str(root), 'val', dataset.val_videos, dataset.video,
                               first_seed=10000)
    else:
        write_jhmdb_dataset(str(root), dataset)


def _point_at(cfg: Config, root: Path, dataset: Dataset) -> None:
    """Make the config's dataloaders (and COCO evaluator) read the dataset written at ``root``."""
    data_root = f'{root}/'
    cfg.train_dataloader.dataset.data_root = data_root
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        inner = loader.dataset
        if 'data_root' not in inner and 'dataset' in inner:  # a wrapper (VideoPoseDataset)
            inner = inner.dataset
        inner.data_root = data_root
    if isinstance(dataset, COCO_DATASETS):
        for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
            evaluator.ann_file = f'{root}/annotations/val.json'


def trained_checkpoint(config: Path, dataset: Dataset, cache_dir: Path = DEFAULT_CACHE) -> Path:
    """The cached checkpoint of ``config``; trains it on ``dataset`` first if it is missing.

    The checkpoint is copied into place under a temporary name and renamed, so an interrupted
    run never leaves a cached file that loads half.
    """
    target = cached_checkpoint_path(config, dataset, cache_dir)
    if target.exists():
        print_log(f'using the cached checkpoint {target}', logger='current')
        return target
    from mmengine.runner import Runner
    work = target.parent
    print_log(f'training {Path(config).name} on synthetic videos into {work} (once)',
              logger='current')
    data = work / 'data'
    _write_dataset(data, dataset)
    cfg = Config.fromfile(str(config))
    cfg.work_dir = str(work / 'train')
    _point_at(cfg, data, dataset)
    Runner.from_cfg(cfg).train()
    tmp = target.with_suffix('.tmp')
    shutil.copy(Path(cfg.work_dir) / f'epoch_{cfg.train_cfg.max_epochs}.pth', tmp)
    tmp.rename(target)
    return target


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('task', choices=['pose', 'detection', 'people'])
    parser.add_argument('config', type=Path)
    parser.add_argument('--height', type=int, help='pose: frame height of the videos')
    parser.add_argument('--width', type=int, help='pose: frame width of the videos')
    parser.add_argument('--cache-dir', type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    if args.task == 'pose':
        size = {k: v for k, v in dict(height=args.height, width=args.width).items() if v}
        dataset = default_dataset_config(**size)
    else:
        if args.height or args.width:
            parser.error('--height/--width apply to pose datasets only')
        dataset = DetectionDataset() if args.task == 'detection' else PeopleDetectionDataset()
    # the path is this command's only output on stdout: training logs go to stderr
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        path = trained_checkpoint(args.config, dataset, args.cache_dir)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    print(path)


if __name__ == '__main__':
    main()
