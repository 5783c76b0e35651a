"""Benchmark ``mmeff.CondConv2d`` (the compiled ``cond_conv2d`` op) against a static conv and
timm's ``CondConv2d`` on the EfficientNet-B0 layers that CondConv replaces.

The expand 1x1, depthwise kxk and project 1x1 convs of the last three stages of
EfficientNet-B0 at 224 px (14x14 and 7x7 maps), inference (``torch.no_grad``), E experts,
batch 1 and 8. Per layer and batch, in the same process, timed as
``mmeff.benchmark.median_times`` (2 threads, alternating bursts after warm-up, medians):

    static      F.conv2d with one kernel of the layer's shape (an nn.Conv2d)
    mix         routing @ weight, timm's mix of the B kernels (torch.matmul)
    mmeff       mmeff.CondConv2d(x, routing): the op with its automatic strategy
    per-sample  the op, one conv per sample                 (batch > 1)
    grouped     the op, one grouped conv                    (batch > 1)
    matmul      the op, one batched GEMM (pointwise convs)  (batch > 1)
    timm        timm.layers.CondConv2d(x, routing)

and prints mmeff / static, mmeff / (static + mix) and timm / mmeff. Each call's data is in
the caches (a burst repeats the call), which favours every candidate alike.

    python tools/benchmark_cond_conv2d.py [--threads 2] [--repeats 15] [--experts 8]
        [--batches 1 8] [--layers NAME ...] [--json out.json]
"""
import argparse

import torch
from mmengine.utils import ProgressBar
from timm.layers import CondConv2d as TimmCondConv2d

from mmeff.benchmark import Column, add_timing_arguments, make_record, median_times, publish_record
from mmeff.layers import CondConv2d
from mmeff.ops import cond_conv2d, has_extension

# name, C_in, C_out, kernel, stride, groups, input size (square)
LAYERS = [
    ('expand 1x1 112->672 @14', 112, 672, 1, 1, 1, 14),
    ('dw 5x5 672 @14', 672, 672, 5, 1, 672, 14),
    ('project 1x1 672->112 @14', 672, 112, 1, 1, 1, 14),
    ('dw 5x5 s2 672 @14', 672, 672, 5, 2, 672, 14),
    ('project 1x1 672->192 @7', 672, 192, 1, 1, 1, 7),
    ('expand 1x1 192->1152 @7', 192, 1152, 1, 1, 1, 7),
    ('dw 5x5 1152 @7', 1152, 1152, 5, 1, 1152, 7),
    ('project 1x1 1152->192 @7', 1152, 192, 1, 1, 1, 7),
    ('dw 3x3 1152 @7', 1152, 1152, 3, 1, 1152, 7),
    ('project 1x1 1152->320 @7', 1152, 320, 1, 1, 1, 7),
]


def bench_layer(layer, batch, experts, repeats, warmup):
    """One row: the medians (ms) and ratios of one layer at one batch size."""
    name, cin, cout, k, stride, groups, size = layer
    theirs = TimmCondConv2d(cin, cout, k, stride, k // 2, 1, groups, False, experts)
    ours = CondConv2d(cin, cout, k, stride, k // 2, 1, groups, False, experts, routing='external')
    ours.load_state_dict(theirs.state_dict())
    static = torch.nn.Conv2d(cin, cout, k, stride, k // 2, 1, groups, False)
    x = torch.randn(batch, cin, size, size)
    routing = torch.rand(batch, experts)
    geometry = dict(stride=stride, padding=k // 2, groups=groups)
    fns = dict(static=lambda: static(x), mix=lambda: torch.matmul(routing, ours.weight),
               mmeff=lambda: ours(x, routing), timm=lambda: theirs(x, routing))
    pointwise = k == 1 and stride == 1 and groups == 1
    if batch > 1:
        for strategy in ('per_sample', 'grouped') + (('matmul', ) if pointwise else ()):
            fns[strategy] = (lambda s=strategy: cond_conv2d(x, ours.experts(), None, routing,
                                                            strategy=s, **geometry))
    with torch.no_grad():
        t = {key: value * 1e3 for key, value in median_times(fns, repeats, warmup).items()}
    row = dict(layer=name, batch=batch)
    row.update({f'{key}_ms': t.get(key) for key, _ in TIMES})
    row.update(vs_static=t['mmeff'] / t['static'],
               vs_static_mix=t['mmeff'] / (t['static'] + t['mix']),
               timm_vs_mmeff=t['timm'] / t['mmeff'])
    return row


# the record's timed columns (ms) and ratios: key, header
TIMES = [('static', 'static'), ('mix', 'mix'), ('mmeff', 'mmeff'), ('per_sample', 'per-sample'),
         ('grouped', 'grouped'), ('matmul', 'matmul'), ('timm', 'timm')]
RATIOS = [('vs_static', 'mmeff / static'), ('vs_static_mix', 'mmeff / (static + mix)'),
          ('timm_vs_mmeff', 'timm / mmeff')]
COLUMNS = [Column('layer', 'layer'), Column('batch', 'batch')] + \
    [Column(f'{key}_ms', f'{header} ms', '.3f') for key, header in TIMES] + \
    [Column(key, header, '.2f') for key, header in RATIOS]
DESCRIPTION = (
    '`mmeff.CondConv2d` (compiled `cond_conv2d`, automatic strategy; its per-sample, grouped '
    'and matmul strategies at batch > 1) against a static `nn.Conv2d` of one expert\'s shape, '
    'timm\'s mix (`routing @ weight`) and timm\'s `CondConv2d`, on the CondConv layers of '
    'EfficientNet-B0 at 224 px, {experts} experts, inference. Medians of alternating bursts '
    'after warm-up.')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_timing_arguments(parser, repeats=15, warmup=3)
    parser.add_argument('--experts', type=int, default=8)
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 8])
    parser.add_argument('--layers', nargs='+', default=[layer[0] for layer in LAYERS],
                        choices=[layer[0] for layer in LAYERS], metavar='NAME',
                        help='layer names, as in LAYERS')
    args = parser.parse_args()
    if not has_extension():
        raise SystemExit('benchmark_cond_conv2d: the compiled extension is not built')
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    layers = [layer for layer in LAYERS if layer[0] in args.layers]
    rows = []
    progress = ProgressBar(len(layers) * len(args.batches))
    for batch in args.batches:
        for layer in layers:
            rows.append(bench_layer(layer, batch, args.experts, args.repeats, args.warmup))
            progress.update()
    record = make_record(
        'cond_conv2d', f'CondConv2d vs a static conv and timm, {args.experts} experts',
        DESCRIPTION.format(experts=args.experts), COLUMNS, rows, threads=args.threads,
        settings=dict(repeats=args.repeats, warmup=args.warmup, experts=args.experts,
                      batches=args.batches, layers=args.layers))
    publish_record(record, args.json)


if __name__ == '__main__':
    main()
