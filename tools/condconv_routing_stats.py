"""Routing weights of each CondConv block of a trained model on its config's validation
images (eval mode): the mean weight per expert, how much the weights vary from image to image
(the mean over experts of their standard deviation over images) and the share of weights
near 0 (< 0.02) or near 1 (> 0.98). A block whose weights do not vary over the images routes
every image alike: a static conv with a fixed mix.

    python tools/condconv_routing_stats.py CONFIG CHECKPOINT
"""
import argparse
from typing import List

from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.runner.checkpoint import load_checkpoint

from mmeff.benchmark.condconv_stats import routing_weights, summary


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.work_dir = cfg.get('work_dir', 'work_dirs/condconv_routing_stats')
    runner = Runner.from_cfg(cfg)
    model = runner.model.eval()
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    loader = runner.build_dataloader(cfg.val_dataloader)
    batches = (model.data_preprocessor(batch, False)['inputs'] for batch in loader)
    print('| block | mean weight per expert | std over images | < 0.02 | > 0.98 |')
    print('|---|---|---|---|---|')
    for name, weights in routing_weights(model.backbone, batches).items():
        row = summary(weights)
        means = ', '.join(f'{m:.2f}' for m in row['expert_means'])
        print(f"| {name} | {means} | {row['std_over_images']:.3f} | {row['near_0']:.2f} | "
              f"{row['near_1']:.2f} |")


if __name__ == '__main__':
    main()
