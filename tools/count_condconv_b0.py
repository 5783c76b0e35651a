"""Parameters and multiply-adds of EfficientNet-B0 and EfficientNet-CondConv-B0 (4 and 8
experts) with the 1000-class ImageNet head at 224x224, next to the published table
(tensorflow/tpu condconv README: 5.3M/391M, 13.3M/402M, 24.0M/413M).

MADDs are counted as the CondConv paper counts them (``mmeff.utils.count_mixture_macs``):
convs with one kernel each, plus each CondConv layer's kernel mix (E·|W| per image), plus the
linear layers (routers, classifier). Models: mmdet's ``EfficientNet`` and mmeff's
``EfficientNetCondConv`` with an ``EfficientNetClassifier`` head; the parameter count is
checked against timm's ``tf_efficientnet_b0`` / ``tf_efficientnet_cc_b0_{4,8}e``.

    python tools/count_condconv_b0.py [--size 224] [--json out.json]
"""
import argparse
import json

import timm
import torch

import mmeff  # noqa: F401  (registers mmeff's layers)
from mmeff.det import EfficientNetClassifier
from mmeff.utils import count_mixture_macs

#: name, backbone config, timm model, published params (M), published MADDs (M)
MODELS = [
    ('EfficientNet-B0', dict(type='EfficientNet'), 'tf_efficientnet_b0', 5.3, 391),
    ('EfficientNet-CondConv-B0 4e', dict(type='EfficientNetCondConv',
                                         num_experts=4), 'tf_efficientnet_cc_b0_4e', 13.3, 402),
    ('EfficientNet-CondConv-B0 8e', dict(type='EfficientNetCondConv',
                                         num_experts=8), 'tf_efficientnet_cc_b0_8e', 24.0, 413),
]


def count_row(name: str, backbone: dict, timm_name: str, paper_params: float, paper_madds: float,
              size: int) -> dict:
    """One model's counts (millions) and their ratios to the published ones."""
    model = EfficientNetClassifier(backbone).eval()
    macs = count_mixture_macs(model, torch.zeros(1, 3, size, size))
    params = sum(p.numel() for p in model.parameters())
    timm_params = sum(p.numel() for p in timm.create_model(timm_name).parameters())
    return dict(model=name, params_m=params / 1e6, timm_params_m=timm_params / 1e6,
                paper_params_m=paper_params, madds_m=macs.total / 1e6, conv_m=macs.conv / 1e6,
                mix_m=macs.mix / 1e6, linear_m=macs.linear / 1e6, paper_madds_m=paper_madds,
                params_vs_paper=params / 1e6 / paper_params,
                madds_vs_paper=macs.total / 1e6 / paper_madds)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--json', help='write the rows to this JSON file')
    args = parser.parse_args(argv)
    import mmdet.models  # noqa: F401  (loads mmeff.det's registrations)
    rows = [count_row(*model, args.size) for model in MODELS]
    header = ('model', 'params M', 'timm params M', 'paper params M', 'MADDs M', 'conv M', 'mix M',
              'linear M', 'paper MADDs M', 'params / paper', 'MADDs / paper')
    print('| ' + ' | '.join(header) + ' |\n|' + '---|' * len(header))
    for row in rows:
        values = [row['model']] + [
            f'{v:.3f}' if k.endswith('paper') else f'{v:.2f}' for k, v in list(row.items())[1:]
        ]
        print('| ' + ' | '.join(values) + ' |')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(size=args.size, rows=rows), f, indent=1)


if __name__ == '__main__':
    main()
