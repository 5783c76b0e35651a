"""Per-layer report of an RT3D-pruned model: parameters, FLOPs and the share pruned.

    python tools/rt3d_report.py CONFIG CHECKPOINT [--input-shape N C T H W] [--json OUT]

Builds the config's model in its toolbox's scope, loads the checkpoint with its masks, and
prints every Conv3d's parameters, FLOPs (mmengine's FlopAnalyzer) dense and kept, and the
share of its weights pruned, then the model's totals. The input shape defaults to the
``input_shape`` of the config's ``KernelGroupPruningHook``.
"""
import argparse
import json
from typing import Optional, Sequence

from mmeff.utils.pruning_report import format_report, report_checkpoint


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--input-shape', type=int, nargs=5, metavar=('N', 'C', 'T', 'H', 'W'),
                        help="default: the config's KernelGroupPruningHook input_shape")
    parser.add_argument('--json', help='also write the report to this JSON file')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    report = report_checkpoint(args.config, args.checkpoint, args.input_shape)
    print(format_report(report))
    if args.json:
        with open(args.json, 'w') as file:
            json.dump(report.as_dict(), file, indent=1)


if __name__ == '__main__':
    main()
