"""Benchmark ``mmeff.ops.sparse_conv2d`` against dense ``F.conv2d`` in one process.

HRNet-W32-like layers of a 576x768 (H x W) frame, batch 1, b x b block masks at several
densities. Baseline and candidates are timed in alternating bursts after warm-up (see
``mmeff.benchmark.median_times``); the medians are reported with

    speedup    = dense time / sparse time
    efficiency = speedup x density       (1.0 = the physical limit of skipping work)

Both memory formats are measured, each against the dense conv in the same format: NCHW is
what stock mmpose/mmdet models run, NHWC (channels_last) what a model moved with
``model.to(memory_format=torch.channels_last)`` runs. Two candidates are timed: ``op`` is the
public ``sparse_conv2d`` (dense fallback above ``DENSE_CROSSOVER_DENSITY``), ``kernel`` the
compiled kernel alone (``torch.ops.mmeff.sparse_conv2d``).

    python tools/benchmark_sparse_conv.py [--threads 2] [--repeats 25] [--json out.json]
        [--layouts NCHW NHWC] [--layers 3x3] [--densities 0.1 0.25]
"""
import argparse

import torch
import torch.nn.functional as F
from mmengine.utils import ProgressBar

from mmeff.benchmark import Column, make_record, median_times, print_table, write_record
from mmeff.ops import DENSE_CROSSOVER_DENSITY, conv2d_output_size, has_extension, sparse_conv2d

# name, C_in, C_out, kernel, stride, groups, (H, W) of the input
LAYERS = [
    ('3x3 32->32 @144x192', 32, 32, 3, 1, 1, (144, 192)),
    ('3x3 64->64 @72x96', 64, 64, 3, 1, 1, (72, 96)),
    ('3x3 128->128 @36x48', 128, 128, 3, 1, 1, (36, 48)),
    ('3x3 256->256 @18x24', 256, 256, 3, 1, 1, (18, 24)),
    ('3x3 s2 32->64 @144x192', 32, 64, 3, 2, 1, (144, 192)),
    ('1x1 256->64 @144x192', 256, 64, 1, 1, 1, (144, 192)),
    ('1x1 64->32 @72x96', 64, 32, 1, 1, 1, (72, 96)),
    ('dw3x3 64 @72x96', 64, 64, 3, 1, 64, (72, 96)),
]
DENSITIES = [0.05, 0.10, 0.25, 0.50, 1.00]
MEMORY_FORMATS = dict(NCHW=torch.contiguous_format, NHWC=torch.channels_last)


def exact_block_mask(h: int, w: int, block: int, density: float,
                     gen: torch.Generator) -> torch.Tensor:
    """(1, h, w) bool mask with round(density * #blocks) random block x block tiles set."""
    bh, bw = -(-h // block), -(-w // block)
    n_on = max(1, round(density * bh * bw))
    tiles = torch.zeros(bh * bw, dtype=torch.bool)
    tiles[torch.randperm(bh * bw, generator=gen)[:n_on]] = True
    full = tiles.view(bh, bw).repeat_interleave(block, 0).repeat_interleave(block, 1)
    return full[:h, :w].unsqueeze(0).contiguous()


def bench_layer(layer, layout, densities, block, repeats, warmup, gen):
    name, cin, cout, k, stride, groups, (h, w) = layer
    pad = k // 2
    memory_format = MEMORY_FORMATS[layout]
    x = torch.randn(1, cin, h, w, generator=gen).contiguous(memory_format=memory_format)
    weight = torch.randn(cout, cin // groups, k, k, generator=gen)
    bias = torch.randn(cout, generator=gen)
    ho, wo = conv2d_output_size((h, w), (k, k), (stride, stride), (pad, pad), (1, 1))
    out = torch.zeros(1, cout, ho, wo).contiguous(memory_format=memory_format)
    rows = []
    for density in densities:
        mask = exact_block_mask(ho, wo, block, density, gen)
        real_density = mask.float().mean().item()

        def dense():
            return F.conv2d(x, weight, bias, stride, pad, 1, groups)

        def op():
            return sparse_conv2d(x, weight, bias, mask, stride=stride, padding=pad, groups=groups,
                                 out=out)

        def kernel():
            torch.ops.mmeff.sparse_conv2d(x, weight, bias, mask, out, [stride] * 2, [pad] * 2,
                                          [1, 1], groups)

        t = median_times(dict(dense=dense, op=op, kernel=kernel), repeats, warmup)
        rows.append(
            dict(layer=name, layout=layout, density=real_density, dense_ms=t['dense'] * 1e3,
                 op_ms=t['op'] * 1e3, kernel_ms=t['kernel'] * 1e3, op_speedup=t['dense'] / t['op'],
                 kernel_speedup=t['dense'] / t['kernel'],
                 op_efficiency=t['dense'] / t['op'] * real_density,
                 kernel_efficiency=t['dense'] / t['kernel'] * real_density))
    return rows


COLUMNS = [
    Column('layer', 'layer'),
    Column('layout', 'layout'),
    Column('density', 'density', '.3f'),
    Column('dense_ms', 'dense ms', '.3f'),
    Column('op_ms', 'op ms', '.3f'),
    Column('op_speedup', 'op speed-up', '.2f'),
    Column('op_efficiency', 'op eff.', '.2f'),
    Column('kernel_ms', 'kernel ms', '.3f'),
    Column('kernel_speedup', 'kernel speed-up', '.2f'),
    Column('kernel_efficiency', 'kernel eff.', '.2f'),
]
DESCRIPTION = (
    'The public op (`op`: dense fallback from `DENSE_CROSSOVER_DENSITY` on) and its compiled '
    'kernel alone (`kernel`) against dense `F.conv2d` in the same memory format, on '
    'HRNet-W32-like layers of a 576x768 frame, batch 1, with random b x b block masks. '
    'Speed-up = dense time / sparse time; efficiency = speed-up x density (1.0: every skipped '
    'MAC saves its share of the time). Medians of alternating bursts after warm-up.')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=25)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--block', type=int, default=8)
    parser.add_argument('--densities', type=float, nargs='+', default=DENSITIES)
    parser.add_argument('--layers', nargs='+', help='substrings selecting layers by name')
    parser.add_argument('--layouts', nargs='+', choices=list(MEMORY_FORMATS),
                        default=list(MEMORY_FORMATS),
                        help='memory format of input and output (the dense baseline alike)')
    parser.add_argument('--json', help='write the benchmark record (mmeff.benchmark) here')
    args = parser.parse_args()

    if not has_extension():
        raise SystemExit('mmeff.ops._ext is not built: run `bash tools/run.sh setup` first')
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    layers = [
        layer for layer in LAYERS if not args.layers or any(s in layer[0] for s in args.layers)
    ]
    rows = []
    progress = ProgressBar(len(layers) * len(args.layouts))
    with torch.inference_mode():
        for layout in args.layouts:
            for layer in layers:
                rows += bench_layer(layer, layout, args.densities, args.block, args.repeats,
                                    args.warmup, gen)
                progress.update()
    record = make_record(
        'sparse_conv2d', f'sparse_conv2d vs dense F.conv2d, {args.block}x{args.block} blocks',
        DESCRIPTION, COLUMNS, rows, threads=args.threads,
        settings=dict(block=args.block, repeats=args.repeats, warmup=args.warmup,
                      densities=args.densities, layouts=args.layouts, layers=args.layers,
                      dense_crossover_density=DENSE_CROSSOVER_DENSITY))
    print()
    print_table(record)
    if args.json:
        write_record(args.json, record)


if __name__ == '__main__':
    main()
