"""Parameters and multiply-adds of the models of configs, as the CondConv paper counts them
(``mmeff.utils.count_mixture_macs``: convs with one kernel each, each CondConv layer's kernel
mix, E·|W| per image, and the linear layers), for one image of the given size through the
model's ``tensor`` forward, ``model(x, None)``: a detector's backbone, neck and head without
post-processing. Transposed convs (a pose head's deconvs) are not counted.

    python tools/count_config_macs.py CONFIG [CONFIG ...] --size 128 128
"""
import argparse
from typing import List

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

from mmeff.utils import count_mixture_macs


def count_config(path: str, height: int, width: int) -> dict:
    """Millions of parameters and of multiply-adds (total, conv, mix, linear) of one image of
    ``height`` × ``width`` through the model of the config at ``path``."""
    cfg = Config.fromfile(path)
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model).eval()
    macs = count_mixture_macs(model, torch.zeros(1, 3, height, width), None)
    params = sum(p.numel() for p in model.parameters())
    return dict(config=path, params_m=params / 1e6, madds_m=macs.total / 1e6,
                conv_m=macs.conv / 1e6, mix_m=macs.mix / 1e6, linear_m=macs.linear / 1e6)


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
