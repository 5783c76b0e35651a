"""Benchmark the sampling-interpolation blocks and ``sparse_interp2d`` against dense ones.

Block rows: a ``SparseBottleneck`` in evaluation (mask heads, conv1/conv2/conv3 at the
sampled positions as gathers and GEMMs, interpolation with ``sparse_interp2d``) against
mmdet's dense ``Bottleneck`` with the same weights, on ResNet-50 blocks of a 512x512 image,
batch 1. The mask heads get random weights and a bias that keeps the requested share of the
positions (plus the stride-11 grid prior). The sparse block takes and returns channels_last
(as it does inside a ``SparseResNet``); the dense block runs in the faster of NCHW and
channels_last on this machine (the case names it). Op rows: the compiled
``sparse_interp2d`` against the dense normalised convolution of the published code (two
depthwise convolutions and a division), 7x7 RBF window, both in NCHW and both in
channels_last (NHWC). Medians of alternating bursts after warm-up
(``mmeff.benchmark.median_times``), reported with

    speed-up     = dense time / sparse time
    MAC share    = executed MACs / dense MACs, as ``mmeff.utils.MacCounter`` counts them (the
                   block's ``count_macs``: mask heads, interpolation and the dense shortcut
                   charged to the sparse block)
    efficiency   = speed-up x MAC share        (1.0: every skipped MAC saves its share)

``--breakdown`` adds to each 'inner' block row a ``breakdown``: the time of each stage of the
sparse block (``SparseStages``: mask heads, MAC count, BatchNorm folding, indices, gathers,
the three GEMMs, scatters, the two interpolations, shortcut, residual; ``rest`` is the whole
block's time minus their sum) and of the dense one (``DenseStages``), each stage timed alone
and alternately; the GMAC/s of each GEMM and of the dense conv it replaces; and the bound:

    overhead     = mask heads + MAC count + BatchNorm folding + rest (the sparse block's own)
    fixed        = overhead + shortcut + residual (none falls with the density)
    at dense rate  the sparse time with each GEMM at its dense conv's MACs per second
    allowed      = dense time x MAC share / 0.7 (the sparse time of efficiency 0.7)
    cut          = at dense rate - allowed (what else must go for 0.7)

``--clock cpu`` (with ``--threads 1``) times this process's CPU time instead of wall time.

    python tools/benchmark_sampling_interp.py [--threads 2] [--repeats 15] [--json out.json]
        [--densities 0.25 0.4 0.6] [--blocks layer1.1 layer2.0] [--integrations inner]
        [--breakdown] [--clock wall|cpu]
"""
import argparse
from typing import Dict, List

import torch
import torch.nn.functional as F
from mmdet.models.backbones.resnet import Bottleneck
from mmengine.utils import ProgressBar

from mmeff.benchmark import (Column, add_clock_argument, add_timing_arguments, chosen_clock,
                             make_record, median_times, publish_record)
from mmeff.benchmark.sampling_stages import Clock, breakdown, set_mask_density
from mmeff.det import INTEGRATIONS, SparseBottleneck, SparseResNet
from mmeff.ops import has_extension, sparse_interp2d
from mmeff.utils import LayerMacs, MacCounter

IMAGE = 512
# name in the backbone, input (C, H, W) for a 512x512 image
BLOCKS = {
    'layer1.1': (256, 128, 128),
    'layer2.0': (256, 128, 128),
    'layer3.1': (1024, 32, 32),
}
DENSITIES = [0.25, 0.40, 0.60]
INTERP_MAPS = [(64, 128, 128), (128, 64, 64), (256, 32, 32)]


def block_macs(block: SparseBottleneck, x: torch.Tensor) -> LayerMacs:
    """Dense and executed MACs of one sparse forward of ``block`` on ``x``, by the project's
    MAC counter (the block's own ``count_macs``)."""
    with MacCounter(block) as counter:
        block(x)
        return counter.update()


def bench_block(name: str, integration: str, densities: List[float], repeats: int, warmup: int,
                gen: torch.Generator, clock: Clock, with_breakdown: bool) -> List[Dict]:
    """The block's rows, one per density (with a ``breakdown`` for 'inner' when asked)."""
    with torch.inference_mode(False):  # parameters with version counters (FoldedCache)
        backbone = SparseResNet(50, integration=integration)
    backbone.eval()
    block = backbone.get_submodule(name)
    dense = Bottleneck(block.inplanes, block.planes, stride=block.conv2_stride,
                       downsample=block.downsample)
    dense.load_state_dict(block.state_dict(), strict=False)
    dense.eval()
    x = torch.randn(1, *BLOCKS[name], generator=gen)
    x_last = x.contiguous(memory_format=torch.channels_last)
    dense_layout = min(
        ('NCHW', x), ('NHWC', x_last),
        key=lambda item: median_times(dict(d=lambda: dense(item[1])), 3, 1, clock=clock)['d'])
    rows = []
    for density in densities:
        set_mask_density(block, x, density, gen)
        macs = block_macs(block, x_last)
        t = median_times(dict(dense=lambda: dense(dense_layout[1]), sparse=lambda: block(x_last)),
                         repeats, warmup, clock=clock)
        speedup, share = t['dense'] / t['sparse'], macs.executed / macs.dense
        row = dict(case=f'{name} {integration} (dense {dense_layout[0]})',
                   density=block.masks(x_last)[1][-1].float().mean().item(),
                   dense_ms=t['dense'] * 1e3, sparse_ms=t['sparse'] * 1e3, speedup=speedup,
                   mac_share=share, efficiency=speedup * share)
        if with_breakdown and integration == 'inner':
            row['breakdown'] = breakdown(block, dense, x_last, dense_layout[1], row, repeats,
                                         warmup, clock)
        rows.append(row)
    return rows


#: the breakdown's stages of a sparse 'inner' block (SparseStages methods), in order
def print_breakdown(rows: List[Dict]) -> None:
    """The breakdowns of ``rows`` (those that have one) as a plain-text table, ms."""
    rows = [r for r in rows if 'breakdown' in r]
    if not rows:
        return
    lines = [['stage'] + [f"{r['case'].split()[0]} {r['density']:.2f}" for r in rows]]
    for part in ('sparse_ms', 'dense_ms', 'gmacs_per_s', 'bound'):
        for key in rows[0]['breakdown'][part]:
            lines.append([f'{part} {key}'] + [f"{r['breakdown'][part][key]:.2f}" for r in rows])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    print()
    for line in lines:
        print('  '.join(cell.rjust(width) for cell, width in zip(line, widths)))


def dense_normalised_conv(x: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor):
    """The published interpolation: depthwise conv of x * m over conv of m, blended."""
    c, k = x.shape[1], weight.shape[-1]
    m = mask.unsqueeze(1).to(x.dtype)
    num = F.conv2d(x * m, weight.expand(c, 1, k, k), padding=k // 2, groups=c)
    den = F.conv2d(m, weight.view(1, 1, k, k), padding=k // 2)
    return m * x + (1 - m) * num / den.clamp_min(torch.finfo(x.dtype).tiny)


def bench_interp(shape, densities: List[float], repeats: int, warmup: int, gen: torch.Generator,
                 clock: Clock) -> List[Dict]:
    c, h, w = shape
    offsets = torch.arange(7, dtype=torch.float32) - 3
    log_weight = -4.5 * (offsets.view(-1, 1)**2 + offsets.view(1, -1)**2)  # RBF, s = 3
    weight = torch.exp(log_weight)
    rows = []
    for layout, memory_format in (('NCHW', torch.contiguous_format), ('NHWC', torch.channels_last)):
        x = torch.randn(1, c, h, w, generator=gen).contiguous(memory_format=memory_format)
        out = torch.empty_like(x)
        for density in densities:
            mask = torch.rand(1, h, w, generator=gen) < density
            t = median_times(
                dict(dense=lambda: dense_normalised_conv(x, mask, weight),
                     sparse=lambda: sparse_interp2d(x, mask, log_weight, out=out)), repeats, warmup,
                clock=clock)
            rows.append(
                dict(case=f'sparse_interp2d {c}x{h}x{w} {layout}',
                     density=mask.float().mean().item(), dense_ms=t['dense'] * 1e3,
                     sparse_ms=t['sparse'] * 1e3, speedup=t['dense'] / t['sparse'], mac_share=None,
                     efficiency=None))
    return rows


DESCRIPTION = (
    'ResNet-50 bottlenecks of a 512x512 image, batch 1: `SparseBottleneck` inference (mask '
    'heads, convs at the sampled positions, `sparse_interp2d`) against the dense mmdet '
    '`Bottleneck` with the same weights (in the faster of NCHW and channels_last), at mask '
    'densities set through the mask-head bias, the sparse block in channels_last; and '
    'the compiled `sparse_interp2d` (7x7 RBF window) against the dense normalised convolution '
    'of the published code, both in the named layout. Speed-up = dense time / sparse time; '
    'MAC share = executed / dense MACs with mask heads, interpolation and the dense shortcut '
    'charged to the sparse block; efficiency = speed-up x MAC share. Medians of alternating '
    'bursts after warm-up.')

# key, header, number format
COLUMN_SPECS = (('case', 'case', ''), ('density', 'density', '.3f'),
                ('dense_ms', 'dense ms', '.3f'), ('sparse_ms', 'sparse ms', '.3f'),
                ('speedup', 'speed-up', '.2f'), ('mac_share', 'MAC share',
                                                 '.3f'), ('efficiency', 'efficiency', '.2f'))
COLUMNS = [Column(*spec) for spec in COLUMN_SPECS]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_timing_arguments(parser, repeats=15, warmup=3)
    parser.add_argument('--densities', type=float, nargs='+', default=DENSITIES)
    parser.add_argument('--blocks', nargs='+', choices=list(BLOCKS), default=list(BLOCKS))
    parser.add_argument('--integrations', nargs='+', choices=INTEGRATIONS, default=['inner'])
    parser.add_argument('--interp-maps', type=int, default=len(INTERP_MAPS),
                        help='how many of the op benchmark maps to run')
    parser.add_argument('--breakdown', action='store_true',
                        help="time the stages of the 'inner' blocks too (docs/sampling_interp.md)")
    add_clock_argument(parser)
    args = parser.parse_args()
    clock = chosen_clock(parser, args)

    if not has_extension():
        raise SystemExit('mmeff.ops._ext is not built: run `bash tools/run.sh setup` first')
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    rows = []
    progress = ProgressBar(len(args.blocks) * len(args.integrations) + args.interp_maps)
    with torch.inference_mode():
        for integration in args.integrations:
            for name in args.blocks:
                rows += bench_block(name, integration, args.densities, args.repeats, args.warmup,
                                    gen, clock, args.breakdown)
                progress.update()
        for shape in INTERP_MAPS[:args.interp_maps]:
            rows += bench_interp(shape, args.densities, args.repeats, args.warmup, gen, clock)
            progress.update()
    record = make_record(
        'sampling_interp', 'Sampling-interpolation blocks and sparse_interp2d vs dense',
        DESCRIPTION, COLUMNS, rows, threads=args.threads,
        settings=dict(image=IMAGE, repeats=args.repeats, warmup=args.warmup,
                      densities=args.densities, blocks=args.blocks, integrations=args.integrations,
                      interp_maps=args.interp_maps, clock=args.clock, breakdown=args.breakdown))
    publish_record(record, args.json)
    print_breakdown(rows)


if __name__ == '__main__':
    main()
