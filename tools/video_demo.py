"""Video pose, dense and SkipConv side by side: detect, track, estimate every person.

    python tools/video_demo.py [--video FILE --det-config CFG --det-checkpoint PTH|URL
        --config CFG --checkpoint PTH|URL] [--frames 60] [--det-interval 1] [--det-skipconv]
        [--relative 0.1] [--block 4] [--out-dir work_dirs/video_demo]

The command line of ``mmeff.apis.run_video_pose``, which is the pipeline of mmpose's
``demo/topdown_demo_with_mmdet.py`` on video: an mmdet detector
finds the people of a frame (class ``--det-cat-id``, score above ``--bbox-thr``, every
``--det-interval`` frames); ``mmeff.pose.IoUTracker`` links them into tracks; each track keeps a
stable crop (``mmeff.pose.StableCrop``: re-cropped only when the person leaves it) and its own
SkipConv stream, started when the track appears and dropped when it ends. The dense top-down
model (BatchNorm folded) and its SkipConv copy (``mmeff.convert_to_skipconv``, input-norm gates
on b x b blocks, thresholds calibrated with ``mmeff.converters.calibrate_norm_gates`` on the
first frames' crops) run every crop of every frame. The detector's time is reported on its own
and in the pipeline total; ``--det-skipconv`` also times a SkipConv copy of the detector in its
own stream (the tracks still follow the dense detector's boxes).

Without ``--video`` it renders a synthetic clip: three walking figures on a static textured
background with sensor noise, one leaving the view and one entering it
(``mmeff.utils.synthetic_video``), whose true keypoints score both models (PCK@0.2). The
default models are trained once on synthetic data with mmengine's runner and cached under
``--cache-dir`` (a few minutes on 2 cores): the EfficientDet-D0 person detector of
``configs/efficientdet/efficientdet_effb0_bifpn_1xb8-16e_synthetic-people-128x96.py`` and the
reduced-width HRNet of ``configs/pose/td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py``.
A ``--video`` without both checkpoints, or with weights that do not load, falls back to the
synthetic clip with a message: the synthetic models know no real people.

Writes to ``--out-dir``: ``demo.mp4`` (left: dense keypoints; right: SkipConv keypoints with the
recomputed regions in red, shaded by the share of the conv MACs recomputed there),
``per_frame.csv``, ``macs_time.png`` and ``summary.json``; prints the summary table and a
verdict line.
"""
import argparse
import logging
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from mmeff.apis import (Detector, Settings, build_pose_models, format_table, input_aspect_ratio,
                        load_compared, load_or_fallback, pose_test_pipeline, read_video,
                        run_video_pose, summarize, synthetic_clip, verdict, write_outputs)
from mmeff.benchmark.checkpoints import DEFAULT_CACHE, PeopleDetectionDataset, trained_checkpoint
from mmeff.utils.synthetic_pose_dataset import default_dataset_config

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / 'configs/pose/td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'
DEFAULT_DET_CONFIG = (REPO / 'configs/efficientdet' /
                      'efficientdet_effb0_bifpn_1xb8-16e_synthetic-people-128x96.py')


def load_models(args):
    """(video, detector, dense pose, SkipConv pose, pose config) for the arguments, falling back
    to the synthetic default where a real video lacks weights that load."""
    synthetic = args.video is None
    if not synthetic and not (args.checkpoint and args.det_checkpoint):
        print_log(
            'video_demo: --video needs a person detector (--det-config, --det-checkpoint) and a '
            'pose model (--config, --checkpoint) trained on real people; the default models '
            'know only the synthetic walking figures and would draw nonsense on your video. '
            'Running the synthetic default clip instead.', logger='current', level=logging.WARNING)
        synthetic = True
    models = None
    if not synthetic:
        pose = load_or_fallback('pose model', build_pose_models, args.config, args.checkpoint,
                                args.block)
        detector = pose and load_or_fallback('detector', Detector, args.det_config,
                                             args.det_checkpoint, args.det_cat_id, args.bbox_thr,
                                             args.det_skipconv, args.block)
        if detector is None:
            print_log('video_demo: running the synthetic default clip instead', logger='current',
                      level=logging.WARNING)
            synthetic = True
        else:
            models = (read_video(args.video, args.frames), detector, *pose, args.config)
    if synthetic:
        config = args.config if args.checkpoint else DEFAULT_CONFIG
        checkpoint = args.checkpoint or str(
            trained_checkpoint(DEFAULT_CONFIG, default_dataset_config(), args.cache_dir))
        det_config = args.det_config if args.det_checkpoint else DEFAULT_DET_CONFIG
        det_checkpoint = args.det_checkpoint or str(
            trained_checkpoint(DEFAULT_DET_CONFIG, PeopleDetectionDataset(), args.cache_dir))
        detector = Detector(det_config, det_checkpoint, args.det_cat_id, args.bbox_thr,
                            args.det_skipconv, args.block)
        models = (synthetic_clip(args.frames), detector,
                  *build_pose_models(config, checkpoint, args.block), config)
    return models


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--video', help='video file (default: a generated synthetic clip)')
    parser.add_argument('--frames', type=int, default=60, help='frames to run (at most)')
    parser.add_argument('--config', type=Path, default=DEFAULT_CONFIG, help='mmpose config')
    parser.add_argument('--checkpoint', help='pose weights, path or URL (default: trained once)')
    parser.add_argument('--det-config', type=Path, default=DEFAULT_DET_CONFIG,
                        help='mmdet config of the person detector')
    parser.add_argument('--det-checkpoint',
                        help='detector weights, path or URL (default: trained once)')
    parser.add_argument('--det-cat-id', type=int, default=0,
                        help='the detector\'s class index of people (0 in COCO)')
    parser.add_argument('--bbox-thr', type=float, default=0.3, help='detection score threshold')
    parser.add_argument('--det-interval', type=int, default=1,
                        help='run the detector every this many frames')
    parser.add_argument('--det-skipconv', action='store_true',
                        help='also run a SkipConv copy of the detector (own stream) and time it')
    parser.add_argument('--det-relative', type=float, default=0.1,
                        help='the SkipConv detector\'s gate thresholds, relative')
    parser.add_argument('--compare-config', type=Path,
                        help='another dense mmpose model to time on the same crops (RTMPose-m)')
    parser.add_argument('--compare-checkpoint', help='its weights (default: random, timing only)')
    parser.add_argument('--cache-dir', type=Path, default=DEFAULT_CACHE)
    parser.add_argument('--relative', type=float, default=0.1,
                        help='pose gate thresholds relative to each layer\'s window norm')
    parser.add_argument('--block', type=int, default=4, help='SkipConv block size')
    parser.add_argument('--margin', type=float, default=1.25, help='stable crop margin')
    parser.add_argument('--min-iou', type=float, default=0.3, help='tracking: least IoU')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (1: the tiny default model is fastest on one)')
    parser.add_argument('--out-dir', type=Path, default=REPO / 'work_dirs/video_demo')
    args = parser.parse_args(argv)
    if args.det_interval < 1:
        parser.error(f'--det-interval must be >= 1, got {args.det_interval}')
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    video, detector, dense, skip, config = load_models(args)
    pipeline = pose_test_pipeline(Config.fromfile(str(config)))
    settings = Settings(relative=args.relative, det_relative=args.det_relative, margin=args.margin,
                        aspect_ratio=input_aspect_ratio(pipeline), det_interval=args.det_interval,
                        min_iou=args.min_iou)
    compare = args.compare_config and load_compared(args.compare_config, args.compare_checkpoint)
    stats, logs = run_video_pose(video, detector, dense, skip, pipeline, settings, args.out_dir,
                                 compare)
    summary = summarize(stats, logs, args.threads)
    if compare:
        summary['compared_model'] = Path(args.compare_config).stem + (
            '' if args.compare_checkpoint else ' (random weights: time only)')
    summary['verdict'] = verdict(summary)
    write_outputs(stats, summary, args.out_dir)
    print('\n' + format_table(summary) + '\n' + summary['verdict'])
    print_log(f'wrote {args.out_dir}/demo.mp4, per_frame.csv, macs_time.png, summary.json',
              logger='current')
    return summary


if __name__ == '__main__':
    main()
