"""Benchmark compact kernel-group pruned Conv3d layers (``KGSConv3d``) against dense conv3d.

The layers of mmaction2's C3D on a 16x112x112 clip and of its R(2+1)D-34 (``Conv2plus1d``:
1xkxk spatial and kx1x1 temporal convs) on an 8x112x112 clip, batch 1, random weights. Each
layer is pruned to 1/R of its MACs (ratio 1 - 1/R) with the KGS, vanilla and filter schemes
(g_M x g_N groups, smallest-norm units removed), packed with ``KGSConv3d.from_conv`` and timed
against the dense ``F.conv3d`` (oneDNN) in the same process, alternating, after warm-up
(``mmeff.benchmark.median_times``):

    speed-up     = dense time / compact time
    speed-up / R = the share of the FLOP reduction that turns into time (target >= 0.8)

``packed`` (R = 1) is the compact kernel with nothing pruned: dense time / its time bounds
what pruning can give (speed-up <= R x that). ``filter-onednn`` runs the kept filters as a
smaller dense conv3d (oneDNN), the natural compact form of filter pruning.

    python tools/benchmark_kgs_conv3d.py [--threads 2] [--repeats 5] [--reductions 2 3 5]
        [--models c3d r2plus1d] [--layers conv3a] [--group-size 8 8] [--json out.json]
"""
import argparse
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmengine.utils import ProgressBar
from torch import nn

from mmeff.benchmark import Column, add_timing_arguments, make_record, median_times, publish_record
from mmeff.layers import KGSConv3d
from mmeff.layers.kernel_group_sparsity import prune_conv
from mmeff.ops import has_extension

SCHEMES = ('kgs', 'vanilla', 'filter')
#: model -> (clip shape (N, C, T, H, W))
CLIPS = dict(c3d=(1, 3, 16, 112, 112), r2plus1d=(1, 3, 8, 112, 112))


def build_backbone(model: str) -> nn.Module:
    """mmaction2's C3D, or the R(2+1)D-34 of its Kinetics recipe (random weights)."""
    from mmaction.models.backbones import C3D, ResNet2Plus1d
    if model == 'c3d':
        return C3D()
    with DefaultScope.overwrite_default_scope('mmaction'):
        return ResNet2Plus1d(depth=34, pretrained=None, pretrained2d=False,
                             conv_cfg=dict(type='Conv2plus1d'),
                             norm_cfg=dict(type='BN3d', requires_grad=True,
                                           eps=1e-3), conv1_kernel=(3, 7, 7), conv1_stride_t=1,
                             pool1_stride_t=1, inflate=(1, 1, 1, 1), spatial_strides=(1, 2, 2, 2),
                             temporal_strides=(1, 2, 2, 2), zero_init_residual=False)


def distinct_layers(model: str) -> List[Tuple[str, nn.Conv3d, Tuple[int, ...], int, int]]:
    """(name, conv, input shape, occurrences, output positions per clip) of the model's Conv3d
    layers on its clip, one per distinct (weight shape, stride, padding, input shape), in
    network order."""
    backbone = build_backbone(model)
    backbone.eval()  # mmaction2 backbones' train() returns None
    layers, handles = {}, []

    def record(name):

        def hook(conv, args, out):
            key = (tuple(conv.weight.shape), conv.stride, conv.padding, tuple(args[0].shape))
            first = layers.setdefault(key, [name, conv, tuple(args[0].shape), 0, out[0, 0].numel()])
            first[3] += 1

        return hook

    for name, module in backbone.named_modules():
        if isinstance(module, nn.Conv3d):
            handles.append(module.register_forward_hook(record(name)))
    with torch.no_grad():
        backbone(torch.zeros(CLIPS[model]))
    for handle in handles:
        handle.remove()
    return [tuple(layer) for layer in layers.values()]


def whole_model_rows(rows: List[Dict]) -> List[Dict]:
    """Per (model, scheme, R): every layer's time and MACs summed, each distinct layer counted
    as often as it occurs in the network."""
    totals: Dict[Tuple, Dict] = {}
    for row in rows:
        total = totals.setdefault((row['model'], row['scheme'], row['reduction']),
                                  dict(dense_ms=0.0, compact_ms=0.0, macs=0, kept_macs=0))
        for key in total:
            total[key] += row['count'] * row[key]
    summary = []
    for (model, scheme, reduction), total in totals.items():
        speedup = total['dense_ms'] / total['compact_ms']
        summary.append(
            dict(model=model, layer='all layers (Σ)', weight='-', input='-', scheme=scheme,
                 reduction=reduction, flop_reduction=total['macs'] / max(total['kept_macs'], 1),
                 dense_ms=total['dense_ms'], compact_ms=total['compact_ms'], speedup=speedup,
                 speedup_share=speedup / reduction))
    return summary


def pruned_copy(conv: nn.Conv3d, scheme: str, ratio: float, group_size: Tuple[int,
                                                                              int]) -> nn.Conv3d:
    """A copy of ``conv`` pruned to ``ratio`` of ``scheme``'s units (partial groups padded)."""
    copy = nn.Conv3d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                     conv.padding, conv.dilation, bias=conv.bias is not None)
    copy.load_state_dict(conv.state_dict())
    prune_conv(copy, scheme, ratio, group_size, pad=True)
    return copy


def kept_macs(conv: nn.Conv3d) -> int:
    """Multiplications per output position that the mask keeps."""
    return int(conv.weight_mask.sum())


def bench_layer(model, name, conv, in_shape, count, positions, reductions, group_size, repeats,
                warmup, gen) -> List[Dict]:
    x = torch.randn(*in_shape, generator=gen)
    weight = torch.randn(conv.weight.shape, generator=gen) * conv.weight.shape[1]**-0.5
    conv.weight.data.copy_(weight)
    dense_macs = conv.weight.numel()
    candidates, macs = {}, {}
    conv_args = (conv.stride, conv.padding, conv.dilation)

    def dense():
        return F.conv3d(x, conv.weight, conv.bias, *conv_args)

    def compact_of(layer):
        return lambda: layer(x)

    candidates[('packed',
                1.0)] = compact_of(KGSConv3d.from_conv(pruned_copy(conv, 'kgs', 0.0, group_size)))
    macs[('packed', 1.0)] = dense_macs
    for reduction in reductions:
        for scheme in SCHEMES:
            pruned = pruned_copy(conv, scheme, 1 - 1 / reduction, group_size)
            candidates[(scheme, reduction)] = compact_of(KGSConv3d.from_conv(pruned))
            macs[(scheme, reduction)] = kept_macs(pruned)
            if scheme == 'filter':
                kept = pruned.weight_mask.reshape(conv.out_channels, -1).any(1)
                small_w = pruned.weight[kept].contiguous()
                small_b = None if pruned.bias is None else pruned.bias[kept]
                candidates[('filter-onednn', reduction)] = (
                    lambda w=small_w, b=small_b: F.conv3d(x, w, b, *conv_args))
                macs[('filter-onednn', reduction)] = kept_macs(pruned)
    functions = {'dense': dense, **{f'{s} {r}': f for (s, r), f in candidates.items()}}
    times = median_times(functions, repeats, warmup)
    rows = []
    for (scheme, reduction) in candidates:
        t = times[f'{scheme} {reduction}']
        speedup = times['dense'] / t
        rows.append(
            dict(model=model, layer=name, weight='x'.join(map(str, conv.weight.shape)),
                 input='x'.join(map(str, in_shape[2:])), scheme=scheme, reduction=reduction,
                 flop_reduction=dense_macs / max(macs[(scheme, reduction)], 1),
                 dense_ms=times['dense'] * 1e3, compact_ms=t * 1e3, speedup=speedup,
                 speedup_share=speedup / reduction, count=count, macs=dense_macs * positions,
                 kept_macs=macs[(scheme, reduction)] * positions))
    return rows


COLUMNS = [
    Column('model', 'model'),
    Column('layer', 'layer'),
    Column('weight', 'weight'),
    Column('input', 'input T×H×W'),
    Column('scheme', 'scheme'),
    Column('reduction', 'R', '.0f'),
    Column('flop_reduction', 'MAC reduction', '.2f'),
    Column('dense_ms', 'dense ms', '.2f'),
    Column('compact_ms', 'compact ms', '.2f'),
    Column('speedup', 'speed-up', '.2f'),
    Column('speedup_share', 'speed-up / R', '.2f'),
]
DESCRIPTION = (
    'Compact kernel-group pruned Conv3d layers (`KGSConv3d`, the `kgs_conv3d` op) against the '
    'dense `F.conv3d` (oneDNN), batch 1, random weights: the distinct Conv3d layers of '
    "mmaction2's C3D on a 16x112x112 clip and of its R(2+1)D-34 on an 8x112x112 clip. Each "
    'layer is pruned to 1/R of its MACs with each scheme (R = 1, `packed`: nothing pruned). '
    '`filter-onednn` is filter pruning run as a smaller dense conv3d. Speed-up = dense time / '
    'compact time; target: speed-up / R >= 0.8. Rows `all layers (Σ)` sum the layers of a '
    'model, each counted as often as it occurs. Medians of alternating bursts after warm-up.')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_timing_arguments(parser, repeats=5, warmup=1)
    parser.add_argument('--reductions', type=float, nargs='+', default=[2.0, 3.0, 5.0])
    parser.add_argument('--models', nargs='+', choices=list(CLIPS), default=list(CLIPS))
    parser.add_argument('--layers', nargs='+', help='substrings selecting layers by name')
    parser.add_argument('--group-size', type=int, nargs=2, default=[8, 8])
    args = parser.parse_args()

    if not has_extension():
        raise SystemExit('mmeff.ops._ext is not built: run `bash tools/run.sh setup` first')
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    layers = [(model, *layer) for model in args.models for layer in distinct_layers(model)
              if not args.layers or any(s in layer[0] for s in args.layers)]
    rows = []
    progress = ProgressBar(len(layers))
    with torch.inference_mode():
        for model, name, conv, in_shape, count, positions in layers:
            rows += bench_layer(model, name, conv, in_shape, count, positions, args.reductions,
                                tuple(args.group_size), args.repeats, args.warmup, gen)
            progress.update()
    if not args.layers:  # every layer of the models was timed
        rows += whole_model_rows(rows)
    record = make_record(
        'kgs_conv3d', 'Kernel-group pruned Conv3d (KGSConv3d) vs dense conv3d, C3D and R(2+1)D',
        DESCRIPTION, COLUMNS, rows, threads=args.threads,
        settings=dict(repeats=args.repeats, warmup=args.warmup, reductions=args.reductions,
                      models=args.models, layers=args.layers, group_size=args.group_size,
                      clips={m: CLIPS[m]
                             for m in args.models}))
    publish_record(record, args.json)


if __name__ == '__main__':
    main()
