"""Write a synthetic video-pose dataset (walking figures, JHMDB annotation format).

    python tools/generate_synthetic_pose_videos.py data/synthetic_jhmdb \
        [--train 24] [--test 4] [--frames 30] [--height 120] [--width 160] [--shake 0]

mmpose's ``JhmdbDataset`` reads the result (see ``configs/pose/*synthetic*.py``):
``<root>/Frames/<video>/<frame>.png`` and ``<root>/annotations/Sub1_{train,test}.json``.
"""
import argparse

from mmengine.logging import print_log

from mmeff.utils.synthetic_pose_dataset import default_dataset_config, write_jhmdb_dataset


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('root', help='output folder')
    parser.add_argument('--train', type=int, default=24, help='training videos')
    parser.add_argument('--test', type=int, default=4, help='test videos')
    parser.add_argument('--frames', type=int, default=30, help='frames per video')
    parser.add_argument('--height', type=int, default=120)
    parser.add_argument('--width', type=int, default=160)
    parser.add_argument('--noise-std', type=float, default=0.01)
    parser.add_argument('--flicker', type=float, default=0.02)
    parser.add_argument('--shake', type=int, default=0, help='camera shake in pixels')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    cfg = default_dataset_config(videos=dict(train=args.train, test=args.test), frames=args.frames,
                                 height=args.height, width=args.width, noise_std=args.noise_std,
                                 flicker=args.flicker, shake=args.shake, seed=args.seed)
    for split, path in write_jhmdb_dataset(args.root, cfg).items():
        print_log(f'{split}: {path}', logger='current')


if __name__ == '__main__':
    main()
