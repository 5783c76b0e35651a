"""Benchmark ``mmeff.ops.delta_conv2d_frame`` (a ValueGate's frame) against dense ``F.conv2d``.

HRNet-W32 layers of a 256x192 crop (the top-down input), batch 1, NCHW and channels_last
(NHWC, the op's fast layout), the dense conv in the same layout. A share of the input
values has changed by more than the threshold: scattered at random (``--pattern values``,
the worst case for locality, as sensor noise), or every channel of a share of the pixels
(``--pattern pixels``, as a moving object whose features change everywhere it is); the op
commits them and adds their conv to the cached output through the sparse kernel
(``dense_above=1``, so the dense fallback never runs). Each timed call first restores
the reference (a copy of C_in x H x W values, counted against the op). Timing as
``mmeff.benchmark.median_times``: 2 threads, alternating bursts after warm-up, medians:

    speedup    = dense time / op time
    MAC share  = executed MACs / dense MACs
    efficiency = speedup x MAC share    (1.0: every skipped MAC saves its share of the time)

    python tools/benchmark_delta_conv.py [--threads 2] [--repeats 15] [--shares 0.01 0.1]
        [--pattern values|pixels] [--json out.json]
"""
import argparse

import torch
import torch.nn.functional as F
from mmengine.utils import ProgressBar

from mmeff.benchmark import Column, make_record, median_times, print_table, write_record
from mmeff.ops import delta_conv2d_frame, has_extension, pack_delta_conv2d_weight

# name, C_in, C_out, kernel, stride, (H, W) of the input
LAYERS = [
    ('3x3 32->32 @64x48', 32, 32, 3, 1, (64, 48)),
    ('3x3 64->64 @32x24', 64, 64, 3, 1, (32, 24)),
    ('3x3 128->128 @16x12', 128, 128, 3, 1, (16, 12)),
    ('3x3 256->256 @8x6', 256, 256, 3, 1, (8, 6)),
    ('3x3 s2 32->64 @64x48', 32, 64, 3, 2, (64, 48)),
    ('1x1 256->64 @64x48', 256, 64, 1, 1, (64, 48)),
    ('1x1 64->256 @64x48', 64, 256, 1, 1, (64, 48)),
]
SHARES = [0.01, 0.03, 0.1, 0.25, 0.5]
MEMORY_FORMATS = dict(NCHW=torch.contiguous_format, NHWC=torch.channels_last)


def fired_values(shape, share, pattern, gen):
    """Bool (1, C, H, W): each value (``'values'``) or each pixel's every channel
    (``'pixels'``) fired with probability ``share``."""
    if pattern == 'values':
        return torch.rand(shape, generator=gen) < share
    return (torch.rand(1, 1, *shape[2:], generator=gen) < share).expand(shape)


def bench_layer(layer, layout, shares, pattern, repeats, warmup, gen):
    name, cin, cout, k, stride, (h, w) = layer
    memory_format = MEMORY_FORMATS[layout]
    conv = dict(stride=(stride, stride), padding=(k // 2, k // 2), dilation=(1, 1), groups=1)
    weight = torch.randn(cout, cin, k, k, generator=gen)
    packed = pack_delta_conv2d_weight(weight, 1)
    reference0 = torch.randn(1, cin, h, w, generator=gen).contiguous(memory_format=memory_format)
    output = F.conv2d(reference0, weight, None, conv['stride'], conv['padding'])
    dense_macs = output[0, 0].numel() * weight.numel()
    rows = []
    for share in shares:
        fired = fired_values(reference0.shape, share, pattern, gen)
        x = reference0 + fired * (1 + torch.rand(reference0.shape, generator=gen))
        reference = reference0.clone()

        def dense():
            return F.conv2d(x, weight, None, conv['stride'], conv['padding'])

        def op():
            reference.copy_(reference0)
            return delta_conv2d_frame(x, reference, output, weight, packed, 0.5, dense_above=1.0,
                                      **conv)

        t = median_times(dict(dense=dense, op=op), repeats, warmup)
        mac_share = op() / dense_macs
        rows.append(
            dict(layer=name, layout=layout, value_share=fired.float().mean().item(),
                 mac_share=mac_share, dense_ms=t['dense'] * 1e3, op_ms=t['op'] * 1e3,
                 speedup=t['dense'] / t['op'], efficiency=t['dense'] / t['op'] * mac_share))
    return rows


COLUMNS = [
    Column('layer', 'layer'),
    Column('layout', 'layout'),
    Column('value_share', 'fired values', '.3f'),
    Column('mac_share', 'MAC share', '.3f'),
    Column('dense_ms', 'dense ms', '.3f'),
    Column('op_ms', 'op ms', '.3f'),
    Column('speedup', 'speed-up', '.2f'),
    Column('efficiency', 'efficiency', '.2f'),
]
DESCRIPTION = (
    'One value-gated SkipConv2d frame (`delta_conv2d_frame`, sparse kernel always: '
    '`dense_above=1`) against dense `F.conv2d` in the same memory format, on HRNet-W32 layers '
    'of a 256x192 crop, batch 1. A share of the input values fired ({pattern}); each timed call '
    'also restores the reference. Speed-up = dense time / op time; efficiency = speed-up x MAC '
    'share. Medians of alternating bursts after warm-up.')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--shares', type=float, nargs='+', default=SHARES,
                        help='shares of the input values that fired')
    parser.add_argument('--pattern', choices=['values', 'pixels'], default='values',
                        help='fired values scattered, or whole pixels fired')
    parser.add_argument('--layouts', nargs='+', choices=list(MEMORY_FORMATS),
                        default=list(MEMORY_FORMATS), help='memory formats (dense in the same)')
    parser.add_argument('--json', help='write the benchmark record (mmeff.benchmark) here')
    args = parser.parse_args()
    if not has_extension():
        raise SystemExit('benchmark_delta_conv: the compiled extension is not built')
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    rows = []
    progress = ProgressBar(len(LAYERS) * len(args.layouts))
    for layout in args.layouts:
        for layer in LAYERS:
            rows += bench_layer(layer, layout, args.shares, args.pattern, args.repeats, args.warmup,
                                gen)
            progress.update()
    pattern = ('scattered at random'
               if args.pattern == 'values' else 'every channel of a share of the pixels')
    record = make_record(
        'delta_conv2d_frame', f'delta_conv2d_frame vs dense F.conv2d, fired {args.pattern}',
        DESCRIPTION.format(pattern=pattern), COLUMNS, rows, threads=args.threads,
        settings=dict(repeats=args.repeats, warmup=args.warmup, shares=args.shares,
                      pattern=args.pattern, layouts=args.layouts))
    print()
    print_table(record)
    if args.json:
        write_record(args.json, record)


if __name__ == '__main__':
    main()
