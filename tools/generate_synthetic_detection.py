"""Write the synthetic video detection dataset (COCO format with video_id / frame_id).

Moving squares, discs and triangles on static textured backgrounds with sensor noise; see
``mmeff.utils.synthetic_detection``. Layout under ``--out``::

    annotations/train.json  annotations/val.json  train/video_XXXX/NNNN.png  val/...

    python tools/generate_synthetic_detection.py --out data/synthetic_det \\
        [--train-videos 8] [--val-videos 2] [--frames 16] [--size 128]
"""
import argparse

from mmengine.logging import print_log

from mmeff.utils import SyntheticDetectionConfig, write_synthetic_detection


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='data/synthetic_det', help='dataset root')
    parser.add_argument('--train-videos', type=int, default=8)
    parser.add_argument('--val-videos', type=int, default=2)
    parser.add_argument('--frames', type=int, default=16, help='frames per video')
    parser.add_argument('--size', type=int, default=128, help='frame height and width')
    parser.add_argument('--objects', type=int, default=2, help='objects per video')
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = SyntheticDetectionConfig(frames=args.frames, height=args.size, width=args.size,
                                   objects=args.objects)
    # Disjoint seeds: validation videos never appear in training.
    for split, videos, first_seed in (('train', args.train_videos, 0), ('val', args.val_videos,
                                                                        10000)):
        path = write_synthetic_detection(args.out, split, videos, cfg, first_seed=first_seed)
        print_log(f'{split}: {videos} videos x {args.frames} frames -> {path}', logger='current')


if __name__ == '__main__':
    main()
