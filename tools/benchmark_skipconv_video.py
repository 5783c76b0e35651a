"""Dense vs SkipConv on a video, in one process: time, GMACs and fidelity per frame.

The model is a top-down pose estimator: by default mmpose's stock HRNet-W32 (256x192 input);
``--config`` picks another, e.g. the W32 trained on the synthetic videos, with the weights of
``--checkpoint`` or, without one, random weights (BatchNorm statistics calibrated on the first
frames). The video is synthetic (static textured background, walking stick figures, sensor
noise, flicker, optional camera shake), rendered at the size of the synthetic training videos,
and the model sees it as a top-down estimator with a static camera does: one box around the
first figure's whole path, padded and warped to the model's input size by mmpose's
``GetBBoxCenterScale`` and ``TopdownAffine``. Both copies run the same crops; the SkipConv
copy is converted with ``mmeff.convert_to_skipconv`` (BatchNorm folded). Printed: ms/frame
(median, 2 threads), GMACs/frame dense and executed, the relative L2 error of the heatmaps,
and the share of keypoints within 2 px of the dense model's (decoded by the model's codec, as
mmpose reports them), for the first and the last quarter of the video (drift shows as a
difference) and for all of it, the same share for the dense model run on the video with its
sensor noise drawn anew (the agreement that any method ignoring the noise, which is what
skipping does, can hope for), the share of heatmaps whose maximum stays in the same cell (the
strictest measure), and, for models of the figure's 15 keypoints (trained on the synthetic
videos), the accuracy of both models against its true keypoints: PCK at 0.2 and 0.05 of the
figure's box size (JHMDB's PCK, computed by mmpose).

Random weights make a chaotic network (see ../shared/reference/environment.md): fidelity and
sparsity then understate what trained weights give. Pass a trained checkpoint for real numbers.

    python tools/benchmark_skipconv_video.py [--frames 100] [--threshold 0.05]
        [--gate InputNormGate] [--block 8] [--config CONFIG --checkpoint PATH] [--json out.json]
"""
import argparse
import copy
import os
import statistics
import time
from typing import Sequence, Tuple

import torch
from mmengine.runner.checkpoint import load_state_dict
from mmengine.utils import ProgressBar

import mmeff
from mmeff.benchmark import Column, ConvTimer, make_record, print_table, write_record
from mmeff.benchmark.pose_video import (build_hrnet, calibrate_batchnorm, checkpoint_weights,
                                        keypoint_agreement, pck, same_peak_cell, topdown_video)
from mmeff.converters import calibrate_norm_gates, measure_dense_crossovers, tune_norm_gates
from mmeff.utils import MacCounter, SyntheticVideoConfig, fold_batchnorms

BASE = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'
COLUMNS = [
    Column('series', 'gate'),
    Column('setting', 'setting'),
    Column('dense_ms', 'dense ms', '.1f'),
    Column('skipconv_ms', 'SkipConv ms', '.1f'),
    Column('speedup', 'speed-up', '.2f'),
    Column('mac_ratio', 'MAC share', '.1%'),
    Column('keypoints_within_2px_first_quarter', 'within 2 px, first quarter', '.1%'),
    Column('keypoints_within_2px_last_quarter', 'within 2 px, last quarter', '.1%'),
    Column('keypoints_within_2px_all', 'within 2 px, all', '.1%'),
    Column('dense_vs_redrawn_noise_within_2px', 'dense vs re-drawn noise', '.1%'),
    Column('pck@0.2_dense', 'PCK@0.2 dense', '.3f'),
    Column('pck@0.2_skipconv', 'PCK@0.2 SkipConv', '.3f'),
    Column('dense_conv_ms', 'dense convs ms', '.1f'),
    Column('skipconv_other_ms', 'SkipConv non-conv ms', '.1f'),
    Column('ideal_kernel_speedup', 'ideal-kernel speed-up', '.2f'),
]
DESCRIPTION = (
    'A top-down pose model ({weights}) dense and SkipConv on a synthetic video of {frames} '
    'frames (static textured background, walking figure, sensor noise {noise}, flicker '
    '{flicker}), one crop around the figure\'s path as with a static camera, {layout}, frame by '
    'frame in one process; times are medians. Keypoints are decoded by the model\'s codec; '
    '"within 2 px" is the share of SkipConv\'s keypoints within 2 input px of the dense '
    'model\'s, first and last quarter of the video (drift would show as a difference); '
    '"dense vs re-drawn noise" is the same share for the dense model on the video with its '
    'sensor noise drawn anew (the agreement any method that ignores the noise can reach). PCK '
    'is against the true keypoints at 0.2 of the figure\'s box. Forward hooks time the convs: '
    '"ideal-kernel speed-up" is the dense time over dense conv time x MAC share + SkipConv\'s '
    'non-conv time, the speed-up of a sparse kernel as efficient as the dense one.')


def series_and_setting(args: argparse.Namespace) -> Tuple[str, str]:
    """The table's gate and setting cells of a run."""
    if args.gate == 'ValueGate':
        series = 'ValueGate' + (''
                                if args.dense_above == 1.0 else f', dense above {args.dense_above}')
    else:
        series = f'{args.gate} {args.block}x{args.block}'
    if args.channels_last:
        series += ', channels_last'
    if args.fold_dense:
        series += ', dense BN folded'
    if args.gate == 'GumbelGate':
        setting = 'trained'
    elif args.tune is not None:
        setting = f'tuned to {args.tune:g}'
    elif args.relative is not None:
        setting = f'relative {args.relative:g}'
        if args.input_relative is not None:
            setting += f', input layer {args.input_relative:g}'
    else:
        setting = f'threshold {args.threshold:g}'
    return series, setting


def dense_above_arg(text: str):
    """--dense-above: a share in (0, 1] or 'measured'."""
    return text if text == 'measured' else float(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--threshold', type=float, default=0.05,
                        help='one gate threshold for every layer (ignored with --relative)')
    parser.add_argument(
        '--relative', type=float,
        help='per-layer thresholds: this share of each layer\'s mean window L1 '
        'norm on the first 4 frames (mmeff.converters.calibrate_norm_gates)')
    parser.add_argument(
        '--input-relative', type=float,
        help='with --relative: this setting for the model\'s first SkipConv2d '
        '(HRNet\'s layer reading the image: above the sensor noise) instead')
    parser.add_argument(
        '--tune', type=float, metavar='SHARE',
        help='per-resolution thresholds tuned to this share of the dense MACs on '
        'another synthetic video (mmeff.converters.tune_norm_gates)')
    parser.add_argument('--tune-frames', type=int, default=16)
    parser.add_argument(
        '--gate', default='InputNormGate',
        choices=['InputNormGate', 'OutputNormGate', 'ValueGate', 'GumbelGate'],
        help='norm gates recompute b x b output blocks; ValueGate multiplies '
        'only the changed input values; GumbelGate: the trained gates of '
        '--checkpoint (a SkipConvModel Gumbel config\'s, e.g. '
        'td-hm_hrnet-w32-skipconv-gumbel_1xb4x4-3e_synthetic-jhmdb-256x192.py)')
    parser.add_argument('--block', type=int, default=8,
                        help='block size of the norm gates and of the Gumbel gates')
    parser.add_argument(
        '--dense-above', type=dense_above_arg, default=0.25,
        help='ValueGate: share of fired values from which a layer runs densely, '
        'or "measured": each layer\'s crossover timed on this machine '
        '(mmeff.converters.measure_dense_crossovers)')
    parser.add_argument('--figures', type=int, default=1,
                        help='walking figures in the video (the crop follows the first)')
    parser.add_argument('--frame-size', type=int, nargs=2, default=(240, 320), metavar=('H', 'W'),
                        help='size of the rendered video (the synthetic training videos\' size)')
    parser.add_argument(
        '--max-speed', type=float, default=1.0,
        help='largest walking speed in px/frame (long videos need a small one: '
        'the crop holds the whole path)')
    parser.add_argument('--shake', type=int, default=0, help='camera shake in pixels (0: static)')
    parser.add_argument('--noise', type=float, default=0.01, help='sensor noise std (0: none)')
    parser.add_argument('--flicker', type=float, default=0.02,
                        help='amplitude of the global brightness flicker (0: none)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--channels-last', action='store_true',
        help='run both models in channels_last (NHWC), the ValueGate\'s fast '
        'layout')
    parser.add_argument(
        '--fold-dense', action='store_true',
        help='fold the dense model\'s BatchNorms into its convs too (the '
        'converted one always has them folded), for a baseline without them')
    parser.add_argument('--config', default=BASE, help='top-down pose config of the model')
    parser.add_argument('--checkpoint', help='trained weights of --config')
    parser.add_argument('--json', help='write the results to this JSON file')
    args = parser.parse_args()
    if args.input_relative is not None and args.relative is None:
        parser.error('--input-relative needs --relative')
    trained_gates = args.gate == 'GumbelGate'
    if trained_gates and (args.relative is not None or args.tune is not None):
        parser.error('--gate GumbelGate has no thresholds to calibrate or tune')

    torch.set_num_threads(args.threads)
    weights = checkpoint_weights(args.checkpoint)
    dense = build_hrnet(args.config, weights)
    input_size = tuple(dense.head.decoder.input_size)  # (w, h)

    def video(seed: int, frames: int, noise_seeds: Sequence[int]):
        return topdown_video(
            SyntheticVideoConfig(frames=frames, height=args.frame_size[0], width=args.frame_size[1],
                                 figures=args.figures, shake=args.shake, noise_std=0.,
                                 flicker=args.flicker, max_speed=args.max_speed, seed=seed), dense,
            args.noise, noise_seeds)

    # the video and, for the noise floor, the same video with its sensor noise drawn anew
    truth, (frames, redrawn) = video(0, args.frames, (1, 2))
    if not args.checkpoint:
        calibrate_batchnorm(dense, frames[:8])
    if trained_gates:
        gate = dict(type=args.gate, block_size=args.block)
    elif args.gate == 'ValueGate':
        gate = dict(type=args.gate, threshold=args.threshold,
                    dense_above=1.0 if args.dense_above == 'measured' else args.dense_above)
    else:
        gate = dict(type=args.gate, threshold=args.threshold, block_size=args.block)
    # trained gates were trained on the unfolded convs: load them first, then fold
    skip = mmeff.convert_to_skipconv(copy.deepcopy(dense), gate=gate, fuse_bn=not trained_gates)
    if trained_gates:
        if weights is not None:
            load_state_dict(skip, weights, strict=True)
        fold_batchnorms(skip)
    if args.fold_dense:
        fold_batchnorms(dense)
    forward = lambda x: skip(x, None, mode='tensor')  # noqa: E731
    if args.tune is not None:  # tuned on a different video, not on the one reported
        tuning = video(1, args.tune_frames, (3, ))[1][0]
        tuned = tune_norm_gates(skip, [frame[None] for frame in tuning], args.tune, forward)
        for step in tuned.steps:
            print(f'tuning: MAC share {step.mac_share:.3f}, heatmap error {step.error:.4f}, '
                  'relative ' + ', '.join(f'{h}x{w}: {r:g}' for (h, w), r in step.relative.items()))
    elif args.relative is not None:
        first = next(name for name, m in skip.named_modules() if isinstance(m, mmeff.SkipConv2d))
        overrides = {} if args.input_relative is None else {first: args.input_relative}
        calibrate_norm_gates(skip, [frame[None] for frame in frames[:4]], args.relative, forward,
                             overrides)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    dense, skip = dense.to(memory_format=memory_format), skip.to(memory_format=memory_format)
    crossovers = None
    if args.gate == 'ValueGate' and args.dense_above == 'measured':
        crossovers = measure_dense_crossovers(
            skip, frames[0][None].contiguous(memory_format=memory_format), forward)
        values = sorted(crossovers.values())
        print(f'dense crossovers of {len(values)} layers: min {values[0]:.3f}, median '
              f'{values[len(values) // 2]:.3f}, max {values[-1]:.3f}')
    counter = MacCounter(skip)
    times = dict(dense=[], skipconv=[])
    conv_times = dict(dense=[], skipconv=[])
    timers = dict(dense=ConvTimer(dense), skipconv=ConvTimer(skip))
    rel_err, agree, same_cell, floor = [], [], [], []
    outputs = dict(dense=[], skipconv=[])
    progress = ProgressBar(args.frames)
    with torch.no_grad():  # as mmengine's test loops run (inference tensors are always copied)
        for index, frame in enumerate(frames):
            x = frame[None].contiguous(memory_format=memory_format)
            start = time.perf_counter()
            want = dense(x, None, mode='tensor')
            times['dense'].append(time.perf_counter() - start)
            conv_times['dense'].append(timers['dense'].take())
            start = time.perf_counter()
            got = skip(x, None, mode='tensor')
            times['skipconv'].append(time.perf_counter() - start)
            conv_times['skipconv'].append(timers['skipconv'].take())
            counter.update()
            rel_err.append(((got - want).norm() / want.norm()).item())
            agree.append(keypoint_agreement(dense, got, want))
            same_cell.append(same_peak_cell(got, want))
            outputs['dense'].append(want)
            outputs['skipconv'].append(got)
            if args.noise:  # the dense model against itself under re-drawn noise (untimed)
                floor.append(
                    keypoint_agreement(dense, dense(redrawn[index][None], None, mode='tensor'),
                                       want))
            timers['dense'].take()
            progress.update()
    quarter = max(args.frames // 4, 1)
    gmacs = counter.gmacs_per_frame()
    steady = slice(1, None)  # frame 0 is the key frame
    result = dict(
        weights=args.checkpoint or 'random (BatchNorm calibrated)', frames=args.frames,
        gate=args.gate, threshold=None if trained_gates else args.threshold,
        channels_last=args.channels_last, fold_dense=args.fold_dense,
        dense_above=args.dense_above if args.gate == 'ValueGate' else None, relative=args.relative,
        input_relative=args.input_relative, block=args.block, tuned_share=args.tune,
        input_size=input_size, figures=args.figures, shake=args.shake, max_speed=args.max_speed,
        noise=args.noise, flicker=args.flicker, crossovers=crossovers,
        dense_ms=statistics.median(times['dense']) * 1e3,
        skipconv_ms=statistics.median(times['skipconv'][steady]) * 1e3, dense_gmacs=gmacs['dense'],
        executed_gmacs=gmacs['executed'], rel_err_first_quarter=statistics.mean(
            rel_err[:quarter]), rel_err_last_quarter=statistics.mean(
                rel_err[-quarter:]), keypoints_within_2px_first_quarter=statistics.mean(
                    agree[:quarter]), keypoints_within_2px_last_quarter=statistics.mean(
                        agree[-quarter:]), keypoints_within_2px_all=statistics.mean(agree),
        same_peak_cell_all=statistics.mean(same_cell),
        dense_vs_redrawn_noise_within_2px=statistics.mean(floor) if floor else 1.0)
    if outputs['dense'][0].shape[1] == truth.shape[1]:  # the figure's joints (JHMDB order)
        for name, heatmaps in outputs.items():
            for thr in (0.2, 0.05):
                result[f'pck@{thr}_{name}'] = pck(dense, torch.cat(heatmaps), truth, thr)
    else:
        print(f'PCK not computed: the model has {outputs["dense"][0].shape[1]} keypoints, the '
              f'synthetic figure {truth.shape[1]} (JHMDB order); train on the synthetic videos')
    result['speedup'] = result['dense_ms'] / result['skipconv_ms']
    result['mac_ratio'] = result['executed_gmacs'] / result['dense_gmacs']
    # where the time goes, and what a kernel as efficient as the dense one on only the executed
    # MACs would reach: dense conv time x MAC share + everything else of the SkipConv model
    result['dense_conv_ms'] = statistics.median(conv_times['dense']) * 1e3
    result['skipconv_conv_ms'] = statistics.median(conv_times['skipconv'][steady]) * 1e3
    result['skipconv_other_ms'] = statistics.median(
        t - c for t, c in zip(times['skipconv'][steady], conv_times['skipconv'][steady])) * 1e3
    result['ideal_kernel_ms'] = (result['dense_conv_ms'] * result['mac_ratio'] +
                                 result['skipconv_other_ms'])
    result['ideal_kernel_speedup'] = result['dense_ms'] / result['ideal_kernel_ms']
    result['series'], result['setting'] = series_and_setting(args)
    for column in COLUMNS:
        result.setdefault(column.key, None)
    print(f'\n{args.config} at {input_size[1]}x{input_size[0]}, {args.frames} frames, '
          f'weights: {result["weights"]}, {result["series"]}, {result["setting"]}, '
          f'shake={args.shake}, noise={args.noise}, flicker={args.flicker}')
    for key, value in result.items():
        if isinstance(value, float):
            print(f'  {key:<36}{value:.4f}')
    weights = ('trained weights, ' + os.path.basename(args.config)
               if args.checkpoint else 'random weights, BatchNorm calibrated')
    record = make_record(
        'skipconv_video', 'SkipConv pose on video: time, MACs and fidelity',
        DESCRIPTION.format(weights=weights, frames=args.frames, noise=args.noise,
                           flicker=args.flicker,
                           layout='channels_last' if args.channels_last else 'NCHW'), COLUMNS,
        [result], threads=args.threads, settings=vars(args))
    print_table(record)
    if args.json:
        write_record(args.json, record)


if __name__ == '__main__':
    main()
