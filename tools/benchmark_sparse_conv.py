"""Benchmark ``mmeff.ops.sparse_conv2d`` against dense ``F.conv2d`` in one process.

HRNet-W32-like layers of a 576x768 (H x W) frame, batch 1, b x b block masks at several
densities. Baseline and candidates are timed in alternating bursts after warm-up (see
``median_times``); the medians are reported with

    speedup    = dense time / sparse time
    efficiency = speedup x density       (1.0 = the physical limit of skipping work)

Both memory formats are measured, each against the dense conv in the same format: NCHW is
what stock mmpose/mmdet models run, NHWC (channels_last) what a model moved with
``model.to(memory_format=torch.channels_last)`` runs. Two candidates are timed: ``op`` is the public ``sparse_conv2d`` (dense fallback above
``DENSE_CROSSOVER_DENSITY``), ``kernel`` is the compiled gather-GEMM-scatter alone.

    python tools/benchmark_sparse_conv.py [--threads 2] [--repeats 25] [--json out.json]
        [--markdown table.md] [--layouts NCHW NHWC] [--layers 3x3] [--densities 0.1 0.25]
"""
import argparse
import json
import random
import statistics
import time
from typing import Callable, Dict, List

import torch
import torch.nn.functional as F
from mmengine.utils import ProgressBar

from mmeff.ops import (DENSE_CROSSOVER_DENSITY, conv2d_output_size, has_extension,
                       sparse_conv2d)

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


def exact_block_mask(h: int, w: int, block: int, density: float, gen: torch.Generator) -> torch.Tensor:
    """(1, h, w) bool mask with round(density * #blocks) random block x block tiles set."""
    bh, bw = -(-h // block), -(-w // block)
    n_on = max(1, round(density * bh * bw))
    tiles = torch.zeros(bh * bw, dtype=torch.bool)
    tiles[torch.randperm(bh * bw, generator=gen)[:n_on]] = True
    full = tiles.view(bh, bw).repeat_interleave(block, 0).repeat_interleave(block, 1)
    return full[:h, :w].unsqueeze(0).contiguous()


def median_times(fns: Dict[str, Callable[[], object]], repeats: int, warmup: int,
                 burst: int = 4) -> Dict[str, float]:
    """Median wall time of each function.

    Each repeat runs every function in a burst of ``burst`` back-to-back calls, in a shuffled
    order; the first call of a burst is not timed. So every timed call finds its own data in
    the caches, for the baseline and the candidates alike (a call right after another layer's
    conv finds them evicted, which slows the small sparse problems most: see README).
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: Dict[str, List[float]] = {k: [] for k in fns}
    order = list(fns)
    rng = random.Random(0)
    for _ in range(repeats):
        rng.shuffle(order)
        for name in order:
            fn = fns[name]
            fn()
            for _ in range(burst - 1):
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in samples.items()}


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
        rows.append(dict(layer=name, layout=layout, density=real_density, dense_ms=t['dense'] * 1e3,
                         op_ms=t['op'] * 1e3, kernel_ms=t['kernel'] * 1e3,
                         op_speedup=t['dense'] / t['op'], kernel_speedup=t['dense'] / t['kernel'],
                         op_efficiency=t['dense'] / t['op'] * real_density,
                         kernel_efficiency=t['dense'] / t['kernel'] * real_density))
    return rows


def format_table(rows) -> str:
    header = (f'{"layer":<24}{"layout":>7}{"density":>8}{"dense ms":>10}{"op ms":>9}{"speedup":>9}'
              f'{"eff.":>7}{"kernel ms":>11}{"speedup":>9}{"eff.":>7}')
    lines = [header, '-' * len(header)]
    for r in rows:
        lines.append(f'{r["layer"]:<24}{r["layout"]:>7}{r["density"]:>8.3f}{r["dense_ms"]:>10.3f}{r["op_ms"]:>9.3f}'
                     f'{r["op_speedup"]:>9.2f}{r["op_efficiency"]:>7.2f}{r["kernel_ms"]:>11.3f}'
                     f'{r["kernel_speedup"]:>9.2f}{r["kernel_efficiency"]:>7.2f}')
    return '\n'.join(lines)


def format_markdown(rows) -> str:
    lines = ['| layer | layout | density | dense ms | op ms | op speedup | op eff. | kernel ms | '
             'kernel speedup | kernel eff. |', '|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f'| {r["layer"]} | {r["layout"]} | {r["density"]:.3f} | {r["dense_ms"]:.3f} | '
                     f'{r["op_ms"]:.3f} | {r["op_speedup"]:.2f} | {r["op_efficiency"]:.2f} | '
                     f'{r["kernel_ms"]:.3f} | {r["kernel_speedup"]:.2f} | '
                     f'{r["kernel_efficiency"]:.2f} |')
    return '\n'.join(lines)


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
    parser.add_argument('--json', help='write the results to this JSON file')
    parser.add_argument('--markdown', help='write the table as Markdown to this file')
    args = parser.parse_args()

    if not has_extension():
        raise SystemExit('mmeff.ops._ext is not built: run `bash tools/run.sh setup` first')
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    layers = [l for l in LAYERS if not args.layers or any(s in l[0] for s in args.layers)]
    rows = []
    progress = ProgressBar(len(layers) * len(args.layouts))
    with torch.inference_mode():
        for layout in args.layouts:
            for layer in layers:
                rows += bench_layer(layer, layout, args.densities, args.block, args.repeats,
                                    args.warmup, gen)
                progress.update()
    print(f'\nsparse_conv2d vs dense F.conv2d: {args.threads} threads, batch 1, '
          f'{args.block}x{args.block} blocks, median of {args.repeats} '
          f'(dense fallback at density >= {DENSE_CROSSOVER_DENSITY})')
    print(format_table(rows))
    if args.markdown:
        with open(args.markdown, 'w') as f:
            f.write(format_markdown(rows) + '\n')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(threads=args.threads, block=args.block, repeats=args.repeats,
                           torch=torch.__version__, rows=rows), f, indent=2)


if __name__ == '__main__':
    main()
