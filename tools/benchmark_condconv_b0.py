"""Benchmark the whole EfficientNet-CondConv-B0 backbone at batch 1 against static B0 and
timm's models, with each CondConv layer's memory roofline.

Inference (``torch.no_grad``), 224x224, batch 1, random weights, in one process, timed as
``mmeff.benchmark.median_times`` (2 threads, alternating bursts after warm-up, medians).

Model rows (the backbone up to its 1280-channel 1x1 conv, no classifier):

    mmeff static B0     mmdet's EfficientNet (b0, out_indices=(6,), act_cfg SiLU)
    mmeff CC-B0 Ee      mmeff's EfficientNetCondConv, E experts
    timm                timm's tf_efficientnet_b0 / tf_efficientnet_cc_b0_Ee forward_features
                        (built from timm's CondConv2d and CondConvResidual)

CondConv layer rows (per expert count; each layer alone, its input and routing recorded in
a forward of the model):

    static      mmcv's Conv2dAdaptivePadding of the layer's shape (what static B0 runs)
    mmeff       the CondConv2dAdaptivePadding layer with its block's routing
    roofline    max(static, E·|W|·4 bytes / read bandwidth): a batch-1 image must read all E
                expert kernels; the bandwidth is measured here (torch.sum of 256 MB)

A model's roofline is static B0's time with its CondConv layers' static times replaced by
their rooflines. Ratios: mmeff / static B0, timm / mmeff, mmeff / roofline.

``--clock cpu`` times this process's CPU time (``time.process_time``) instead of wall time,
with one thread: on a machine whose other load or CPU quota stretches wall times by tens of
milliseconds, CPU time still measures the work.

    python tools/benchmark_condconv_b0.py [--threads 2] [--repeats 15] [--experts 8 4]
        [--size 224] [--clock wall|cpu] [--json out.json]
"""
import argparse
from typing import Dict, List

import timm
import torch
from mmcv.cnn.bricks import Conv2dAdaptivePadding
from mmengine.logging import MMLogger

import mmeff  # noqa: F401  (registers mmeff's layers)
from mmeff.benchmark import (Column, add_clock_argument, add_timing_arguments, chosen_clock,
                             make_record, median_times, publish_record)
from mmeff.layers import CondConv2dAdaptivePadding
from mmeff.ops import has_extension

TIMM_MODELS = {
    0: 'tf_efficientnet_b0',
    4: 'tf_efficientnet_cc_b0_4e',
    8: 'tf_efficientnet_cc_b0_8e'
}
#: bytes read per second by torch.sum over this many float32 values
BANDWIDTH_VALUES = 64 * 2**20


def mmdet_backbone(experts: int) -> torch.nn.Module:
    """mmdet's static B0 (``experts`` 0) or mmeff's CondConv-B0, up to layer 6, in eval mode,
    with ``nn.SiLU`` for mmcv's default ``Swish`` (the same function in one fused kernel, as
    timm's models use: the unfused Swish costs static B0 about a fifth of its time)."""
    from mmdet.registry import MODELS
    cfg = dict(type='EfficientNet') if experts == 0 else dict(type='EfficientNetCondConv',
                                                              num_experts=experts)
    model = MODELS.build(dict(cfg, out_indices=(6, ), act_cfg=dict(type='SiLU')))
    model.eval()  # mmdet's EfficientNet.train returns None
    return model


def read_bandwidth(repeats: int, warmup: int, clock) -> float:
    """Bytes per second that ``torch.sum`` reads from a buffer far larger than the caches."""
    buffer = torch.rand(BANDWIDTH_VALUES)
    seconds = median_times(dict(sum=lambda: buffer.sum()), repeats, warmup, clock=clock)['sum']
    return buffer.numel() * buffer.element_size() / seconds


def layer_inputs(model: torch.nn.Module, x: torch.Tensor) -> Dict[str, tuple]:
    """Each CondConv layer's (input, routing) in one forward of ``model``."""
    seen, handles = {}, []
    for name, module in model.named_modules():
        if isinstance(module, CondConv2dAdaptivePadding):
            handles.append(
                module.register_forward_pre_hook(lambda m, args, n=name: seen.update({n: args})))
    model(x)
    for handle in handles:
        handle.remove()
    return seen


def static_twin(layer: CondConv2dAdaptivePadding) -> Conv2dAdaptivePadding:
    """The static conv of one expert's shape that static B0 runs in this layer's place."""
    return Conv2dAdaptivePadding(layer.in_channels, layer.out_channels, layer.kernel_size,
                                 layer.stride, dilation=layer.dilation, groups=layer.groups,
                                 bias=False).eval()


def layer_rows(model, experts, x, bandwidth, repeats, warmup, clock) -> List[dict]:
    """One row per CondConv layer of ``model``, then their sum."""
    modules = dict(model.named_modules())
    rows = []
    for name, (inp, routing) in layer_inputs(model, x).items():
        layer = modules[name]
        static = static_twin(layer)
        t = median_times(dict(static=lambda: static(inp), mmeff=lambda: layer(inp, routing)),
                         repeats, warmup, clock=clock)
        expert_bytes = layer.weight.numel() * layer.weight.element_size()
        roofline = max(t['static'], expert_bytes / bandwidth)
        rows.append(
            dict(kind='layer', name=f'{name} {tuple(inp.shape[1:])}', experts=experts,
                 ms=t['mmeff'] * 1e3, static_ms=t['static'] * 1e3, timm_ms=None,
                 expert_mb=expert_bytes / 1e6, roofline_ms=roofline * 1e3))
    total = dict(kind='layers', name='CondConv layers, sum', experts=experts, timm_ms=None)
    for key in ('ms', 'static_ms', 'expert_mb', 'roofline_ms'):
        total[key] = sum(row[key] for row in rows)
    return rows + [total]


def with_ratios(row: dict) -> dict:
    ms, timm_ms = row['ms'], row['timm_ms']
    return dict(row, vs_static=ms / row['static_ms'],
                timm_vs_mmeff=None if timm_ms is None else timm_ms / ms,
                vs_roofline=ms / row['roofline_ms'])


#: the record's columns: row key, header, number format
COLUMNS = [
    Column(*spec)
    for spec in (('kind', 'kind'), ('name', 'model / layer (input C, H, W)'), ('experts', 'E'),
                 ('ms', 'mmeff ms', '.2f'), ('static_ms', 'static ms', '.2f'),
                 ('timm_ms', 'timm ms', '.2f'), ('expert_mb', 'experts MB', '.1f'),
                 ('roofline_ms', 'roofline ms', '.2f'), ('vs_static', 'mmeff / static', '.2f'),
                 ('timm_vs_mmeff', 'timm / mmeff', '.2f'), ('vs_roofline', 'mmeff / roofline',
                                                            '.2f'))
]
DESCRIPTION = (
    'EfficientNet-CondConv-B0 backbones (mmeff `EfficientNetCondConv`, {experts} experts) at '
    'batch 1, {size}x{size}, inference, against mmdet\'s static EfficientNet-B0 and timm\'s '
    '`tf_efficientnet_cc_b0_*e` (built from timm\'s `CondConv2d`); per CondConv layer, a static '
    'conv of its shape and the memory roofline max(static, E·|W| bytes / read bandwidth) with '
    'the read bandwidth measured in the run ({bandwidth:.1f} GB/s). Medians of alternating '
    'bursts after warm-up, {clock} time.')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_timing_arguments(parser, repeats=15, warmup=3)
    parser.add_argument('--experts', type=int, nargs='+', default=[8, 4], choices=[4, 8])
    parser.add_argument('--size', type=int, default=224)
    add_clock_argument(parser)
    args = parser.parse_args()
    clock = chosen_clock(parser, args)
    if not has_extension():
        raise SystemExit('benchmark_condconv_b0: the compiled extension is not built')
    import mmdet.models  # noqa: F401  (loads mmeff.det's registrations)
    MMLogger.get_current_instance().setLevel('ERROR')
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(1, 3, args.size, args.size)
    ours = {e: mmdet_backbone(e) for e in [0] + args.experts}
    theirs = {e: timm.create_model(TIMM_MODELS[e]).eval() for e in [0] + args.experts}
    fns = {f'mmeff {e}': (lambda m=m: m(x)) for e, m in ours.items()}
    fns.update({f'timm {e}': (lambda m=m: m.forward_features(x)) for e, m in theirs.items()})
    with torch.no_grad():
        t = {
            k: v * 1e3
            for k, v in median_times(fns, args.repeats, args.warmup, clock=clock).items()
        }
        bandwidth = read_bandwidth(args.repeats, args.warmup, clock)
        rows = [
            dict(kind='model', name='static B0', experts=0, ms=t['mmeff 0'], static_ms=t['mmeff 0'],
                 timm_ms=t['timm 0'], expert_mb=None, roofline_ms=t['mmeff 0'])
        ]
        for e in args.experts:
            layers = layer_rows(ours[e], e, x, bandwidth, args.repeats, args.warmup, clock)
            floor = t['mmeff 0'] - layers[-1]['static_ms'] + layers[-1]['roofline_ms']
            rows.append(
                dict(kind='model', name=f'CC-B0 {e}e', experts=e, ms=t[f'mmeff {e}'],
                     static_ms=t['mmeff 0'], timm_ms=t[f'timm {e}'],
                     expert_mb=layers[-1]['expert_mb'], roofline_ms=floor))
            rows += layers
    record = make_record(
        'condconv_b0', 'EfficientNet-CondConv-B0 at batch 1 vs static B0 and timm',
        DESCRIPTION.format(experts='/'.join(map(str, args.experts)), size=args.size,
                           bandwidth=bandwidth / 1e9, clock=args.clock), COLUMNS,
        [with_ratios(r) for r in rows], threads=args.threads,
        settings=dict(repeats=args.repeats, warmup=args.warmup, experts=args.experts,
                      size=args.size, clock=args.clock, read_bandwidth_gb_s=bandwidth / 1e9))
    publish_record(record, args.json)


if __name__ == '__main__':
    main()
