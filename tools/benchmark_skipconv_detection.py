"""Dense vs SkipConv EfficientDet-D0 on a synthetic video, in one process, 2 threads.

The model is the D0 of
``configs/efficientdet/efficientdet_effb0_bifpn_1xb8-24e_synthvid-128x128.py`` with the weights
of ``--checkpoint`` (train it with mmdet's tools/train.py, see docs/detection.md) or, without one,
random weights (BatchNorm statistics calibrated on the video: sparsity and
fidelity then understate what trained weights give). The SkipConv copy is converted with
``mmeff.convert_to_skipconv`` (BatchNorm folded, every conv of backbone, BiFPN and head).
Both run the same synthetic video (moving shapes on a static textured background, sensor
noise), alternating frame by frame. Printed: ms/frame (median after warm-up), dense and
executed GMACs/frame, the error of the head outputs against the dense model, and the executed
share per layer group, which shows how EfficientNet's squeeze-excitation (global pooling)
spreads every local change over whole feature maps (``linear_conv`` follows the SE scaling).

    python tools/benchmark_skipconv_detection.py [--checkpoint PATH] [--frames 40]
        [--size 128] [--gate InputNormGate] [--thresholds 0 1 4] [--block 4] [--noise 0.01]
        [--json out.json]
"""
import argparse
import copy
import statistics
import time
from collections import defaultdict
from typing import Dict, List

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.utils import ProgressBar

import mmeff
from mmeff.benchmark import Column, make_record, print_table, write_record
from mmeff.utils import MacCounter, SyntheticDetectionConfig, synthetic_detection_video

CONFIG = 'configs/efficientdet/efficientdet_effb0_bifpn_1xb8-24e_synthvid-128x128.py'
GROUPS = ('stem', 'expand_conv', 'depthwise_conv', 'se', 'linear_conv', 'neck', 'bbox_head')
COLUMNS = [
    Column('threshold', 'threshold', 'g'),
    Column('dense_ms', 'dense ms', '.1f'),
    Column('skipconv_ms', 'SkipConv ms', '.1f'),
    Column('speedup', 'speed-up', '.2f'),
    Column('dense_gmacs', 'dense GMACs', '.3f'),
    Column('executed_gmacs', 'executed GMACs', '.3f'),
    Column('mac_share', 'MAC share', '.1%'),
    Column('max_rel_error', 'max rel. error', '.2e'),
] + [Column(f'share_{group}', group, '.0%') for group in GROUPS]
DESCRIPTION = (
    'EfficientDet-D0 ({weights}), {size}x{size} synthetic video of {frames} frames (moving '
    'shapes, static textured background, noise {noise}), dense and SkipConv ({gate}, {block}x'
    '{block} blocks, BatchNorm folded) alternating frame by frame; times are medians after '
    '{warmup} frames. The error is the largest relative L2 error of the head outputs against the '
    'dense model; the last columns give the executed MAC share per layer group (key frame '
    'included): `linear_conv` and the next `expand_conv` follow squeeze-excitation, whose '
    'global pooling spreads every local change over whole feature maps.')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--checkpoint', help='trained D0 weights (default: random)')
    parser.add_argument('--frames', type=int, default=40)
    parser.add_argument('--warmup', type=int, default=5, help='frames left out of the timing')
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--objects', type=int, default=2)
    parser.add_argument('--noise', type=float, default=0.01, help='sensor noise std ([0, 1])')
    parser.add_argument('--gate', default='InputNormGate')
    parser.add_argument('--thresholds', type=float, nargs='+', default=[0.0, 1.0, 4.0])
    parser.add_argument('--block', type=int, default=4)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--json', help='write the benchmark record (mmeff.benchmark) here')
    return parser.parse_args()


def build_dense(checkpoint, frames: torch.Tensor) -> torch.nn.Module:
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    model = MODELS.build(Config.fromfile(CONFIG).model)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu')
    else:  # calibrate BatchNorm statistics on the video
        torch.manual_seed(0)
        model.init_weights()
        model.train()
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.momentum = None  # cumulative average
            model(frames[::4], mode='tensor')
    return model.eval()


def layer_group(name: str) -> str:
    if name.startswith('backbone.layers.0.'):
        return 'stem'
    for group in GROUPS[1:]:
        if f'.{group}.' in f'.{name}.' or name.startswith(group + '.'):
            return group
    return 'other'


def group_shares(counter: MacCounter) -> Dict[str, float]:
    dense, executed = defaultdict(int), defaultdict(int)
    for name, totals in counter.totals.items():
        dense[layer_group(name)] += totals.dense
        executed[layer_group(name)] += totals.executed
    return {g: executed[g] / dense[g] for g in dense}


def run(args, dense_model, frames, threshold) -> dict:
    gate = dict(type=args.gate, threshold=threshold, block_size=args.block)
    skip_model = mmeff.convert_to_skipconv(copy.deepcopy(dense_model), gate=gate)
    counter = MacCounter(skip_model)
    times: Dict[str, List[float]] = dict(dense=[], skipconv=[])
    errors: List[float] = []
    bar = ProgressBar(len(frames))
    with torch.no_grad():
        for t, frame in enumerate(frames):
            x = frame[None]
            outputs = {}
            # alternate which model runs first, so neither always finds the caches warm
            order = (('dense', dense_model), ('skipconv', skip_model))
            for name, model in (order if t % 2 == 0 else order[::-1]):
                start = time.perf_counter()
                outputs[name] = model(x, mode='tensor')
                if t >= args.warmup:
                    times[name].append(time.perf_counter() - start)
            counter.update()
            want = torch.cat([o.flatten() for o in outputs['dense'][0] + outputs['dense'][1]])
            got = torch.cat([o.flatten() for o in outputs['skipconv'][0] + outputs['skipconv'][1]])
            errors.append(float((got - want).norm() / want.norm()))
            bar.update()
    gmacs = counter.gmacs_per_frame()
    dense_ms = 1e3 * statistics.median(times['dense'])
    skipconv_ms = 1e3 * statistics.median(times['skipconv'])
    shares = group_shares(counter)
    return dict(threshold=threshold, dense_ms=dense_ms, skipconv_ms=skipconv_ms,
                speedup=dense_ms / skipconv_ms, dense_gmacs=gmacs['dense'],
                executed_gmacs=gmacs['executed'], mac_share=gmacs['executed'] / gmacs['dense'],
                max_rel_error=max(errors[1:]),
                **{f'share_{group}': shares.get(group)
                   for group in GROUPS})


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    cfg = SyntheticDetectionConfig(frames=args.frames, height=args.size, width=args.size,
                                   objects=args.objects, noise_std=args.noise, seed=20000)
    frames, _, _ = synthetic_detection_video(cfg)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    frames = (frames * 255 - mean) / std  # the data preprocessor's normalisation (RGB)
    dense_model = build_dense(args.checkpoint, frames)
    rows = [run(args, dense_model, frames, thr) for thr in args.thresholds]
    weights = 'trained weights' if args.checkpoint else 'random weights, BatchNorm calibrated'
    record = make_record(
        'skipconv_detection', 'SkipConv EfficientDet-D0 on video',
        DESCRIPTION.format(weights=weights, size=args.size, frames=args.frames, noise=args.noise,
                           gate=args.gate, block=args.block, warmup=args.warmup), COLUMNS, rows,
        threads=args.threads,
        settings=dict(checkpoint=args.checkpoint, frames=args.frames, warmup=args.warmup,
                      size=args.size, objects=args.objects, noise=args.noise, gate=args.gate,
                      thresholds=args.thresholds, block=args.block))
    print_table(record)
    if args.json:
        write_record(args.json, record)


if __name__ == '__main__':
    main()
