"""Write the synthetic motion-defined action dataset in mmaction2 VideoDataset format.

    python tools/generate_synthetic_actions.py data/synthetic_actions --train 16 --val 4

writes ``<root>/videos/{train,val}/*.mp4`` and ``<root>/{train,val}_list.txt`` (classes:
move_right, move_left, move_down, move_up; see ``mmeff.utils.synthetic_actions``).
"""
import argparse

from mmengine.logging import print_log

from mmeff.utils import ACTIONS, write_action_dataset


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('root', help='output folder')
    parser.add_argument('--train', type=int, default=16, help='training videos per class')
    parser.add_argument('--val', type=int, default=4, help='validation videos per class')
    parser.add_argument('--frames', type=int, default=16, help='frames per video')
    parser.add_argument('--size', type=int, nargs=2, default=(48, 64), metavar=('H', 'W'))
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    lists = write_action_dataset(args.root, dict(train=args.train, val=args.val), args.frames,
                                 tuple(args.size), args.seed)
    for split, path in lists.items():
        print_log(
            f'{split}: {path} ({len(path.read_text().splitlines())} videos, classes '
            f'{", ".join(ACTIONS)})', logger='current')


if __name__ == '__main__':
    main()
