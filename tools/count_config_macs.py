"""Parameters and multiply-adds of the models of configs, as the CondConv paper counts them
(``mmeff.utils.count_mixture_macs``: convs with one kernel each, each CondConv layer's kernel
mix, E·|W| per image, and the linear layers), for one image of the given size through the
model's ``tensor`` forward, ``model(x, None)``: a detector's backbone, neck and head without
post-processing. Transposed convs (a pose head's deconvs) are not counted.

    python tools/count_config_macs.py CONFIG [CONFIG ...] --size 128 128
"""
import argparse
from typing import List

from mmeff.benchmark.condconv_stats import count_config


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--size', type=int, nargs=2, default=(128, 128), metavar=('H', 'W'))
    args = parser.parse_args(argv)
    print('| config | params M | MADDs M | conv M | mix M | linear M |\n|---|---|---|---|---|---|')
    for path in args.configs:
        row = count_config(path, *args.size)
        print(f"| {row['config']} | {row['params_m']:.2f} | {row['madds_m']:.1f} | "
              f"{row['conv_m']:.1f} | {row['mix_m']:.1f} | {row['linear_m']:.2f} |")


if __name__ == '__main__':
    main()
