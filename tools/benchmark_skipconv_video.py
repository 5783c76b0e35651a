"""Dense vs SkipConv on a video, in one process: time, GMACs and fidelity per frame.

The model is mmpose's stock HRNet-W32 top-down estimator (256x192 input; ``--config`` picks
another top-down config, e.g. the W32 trained on the synthetic videos), with the weights of
``--checkpoint`` or, without one, random weights (BatchNorm statistics calibrated on the first
frames). Both copies run the same synthetic video (static textured background, walking stick
figures, sensor noise, flicker, optional camera shake); the SkipConv copy is converted with
``mmeff.convert_to_skipconv`` (BatchNorm folded). Printed: ms/frame (median, 2 threads),
GMACs/frame dense and executed, the relative L2 error of the heatmaps, and the share of
keypoints within 2 px of the dense model's (decoded by the model's codec, as mmpose reports
them), for the first and the last quarter of the video (drift shows as a difference) and for
all of it, the same share for the dense model run on the video with its sensor noise drawn
anew (the agreement that any method ignoring the noise, which is what skipping does, can hope
for), and the share of heatmaps whose maximum stays in the same cell (the strictest measure).

Random weights make a chaotic network (see ../shared/reference/environment.md): fidelity and
sparsity then understate what trained weights give. Pass a trained checkpoint for real numbers.

    python tools/benchmark_skipconv_video.py [--frames 100] [--threshold 0.05]
        [--gate InputNormGate] [--block 8] [--config CONFIG --checkpoint PATH] [--json out.json]
"""
import argparse
import copy
import json
import os
import statistics
import time

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.utils import ProgressBar

import mmeff
from mmeff.converters import calibrate_norm_gates
from mmeff.engine import MacCounter
from mmeff.utils import SyntheticVideoConfig, synthetic_video

BASE = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'


def build_hrnet(config: str, checkpoint, calibration: torch.Tensor) -> torch.nn.Module:
    init_default_scope('mmpose')
    from mmpose.registry import MODELS
    if '::' not in config:  # a file: fromstring resolves _base_ from a temporary folder
        config = os.path.abspath(config)
    cfg = Config.fromstring(f"_base_ = '{config}'\nmodel = dict(backbone=dict(init_cfg=None))\n",
                            file_format='.py')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu')
    else:  # calibrate BatchNorm statistics on real frames, as a trained model would have
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None  # cumulative average
        model.train()
        with torch.no_grad():
            model(calibration, None, mode='tensor')
    return model.eval()


def decoded_keypoints(model: torch.nn.Module, heatmaps: torch.Tensor) -> torch.Tensor:
    """(N, K, h, w) -> (N, K, 2) keypoints in input pixels, decoded by the model's own codec
    (mmpose's MSRAHeatmap: the heatmap maximum moved a quarter cell towards its larger
    neighbour), as mmpose reports
    them."""
    decoder = model.head.decoder
    return torch.stack([torch.from_numpy(decoder.decode(h.numpy())[0][0]) for h in heatmaps])


def peak_cells(heatmaps: torch.Tensor) -> torch.Tensor:
    """(N, K, h, w) -> (N, K) index of each heatmap's maximum."""
    return heatmaps.flatten(2).argmax(-1)


def add_sensor_noise(clean: torch.Tensor, std: float, seed: int) -> torch.Tensor:
    """(T, 3, H, W) frames in [0, 1] plus Gaussian noise, clamped, normalised as mmpose's
    data preprocessor does (ImageNet mean and std)."""
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std_rgb = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return ((clean + std * noise).clamp(0, 1) - mean) / std_rgb


def keypoint_agreement(model: torch.nn.Module, got: torch.Tensor, want: torch.Tensor) -> float:
    """Share of the keypoints decoded from heatmaps ``got`` within 2 px of those of ``want``."""
    distance = (decoded_keypoints(model, got) - decoded_keypoints(model, want)).norm(dim=-1)
    return (distance <= 2).float().mean().item()


def same_peak_cell(got: torch.Tensor, want: torch.Tensor) -> float:
    """Share of heatmaps of ``got`` whose maximum is in the same cell as ``want``'s (the
    strictest agreement: neighbouring cells are 4 input px apart)."""
    return (peak_cells(got) == peak_cells(want)).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--threshold', type=float, default=0.05,
                        help='one gate threshold for every layer (ignored with --relative)')
    parser.add_argument('--relative', type=float,
                        help='per-layer thresholds: this share of each layer\'s mean window L1 '
                        'norm on the first 4 frames (mmeff.converters.calibrate_norm_gates)')
    parser.add_argument('--gate', default='InputNormGate', choices=['InputNormGate', 'OutputNormGate'])
    parser.add_argument('--block', type=int, default=8)
    parser.add_argument('--figures', type=int, default=2,
                        help='walking figures in the frame (a top-down crop holds one)')
    parser.add_argument('--shake', type=int, default=0, help='camera shake in pixels (0: static)')
    parser.add_argument('--noise', type=float, default=0.01, help='sensor noise std (0: none)')
    parser.add_argument('--flicker', type=float, default=0.02,
                        help='amplitude of the global brightness flicker (0: none)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--config', default=BASE, help='top-down pose config of the model')
    parser.add_argument('--checkpoint', help='trained weights of --config')
    parser.add_argument('--json', help='write the results to this JSON file')
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    clean, _ = synthetic_video(SyntheticVideoConfig(frames=args.frames, figures=args.figures,
                                                    shake=args.shake, noise_std=0.,
                                                    flicker=args.flicker, seed=0))
    # the video and, for the noise floor, the same video with its sensor noise drawn anew
    frames, redrawn = (add_sensor_noise(clean, args.noise, seed) for seed in (1, 2))
    dense = build_hrnet(args.config, args.checkpoint, frames[:8])
    skip = mmeff.convert_to_skipconv(
        copy.deepcopy(dense), gate=dict(type=args.gate, threshold=args.threshold,
                                        block_size=args.block))
    if args.relative is not None:
        calibrate_norm_gates(skip, [frame[None] for frame in frames[:4]], args.relative,
                             forward=lambda x: skip(x, None, mode='tensor'))
    counter = MacCounter.of(skip)
    times = dict(dense=[], skipconv=[])
    rel_err, agree, same_cell, floor = [], [], [], []
    progress = ProgressBar(args.frames)
    with torch.no_grad():  # as mmengine's test loops run (inference tensors are always copied)
        for index, frame in enumerate(frames):
            x = frame[None]
            start = time.perf_counter()
            want = dense(x, None, mode='tensor')
            times['dense'].append(time.perf_counter() - start)
            start = time.perf_counter()
            got = skip(x, None, mode='tensor')
            times['skipconv'].append(time.perf_counter() - start)
            counter.update()
            rel_err.append(((got - want).norm() / want.norm()).item())
            agree.append(keypoint_agreement(dense, got, want))
            same_cell.append(same_peak_cell(got, want))
            if args.noise:  # the dense model against itself under re-drawn noise (untimed)
                floor.append(keypoint_agreement(
                    dense, dense(redrawn[index][None], None, mode='tensor'), want))
            progress.update()
    quarter = max(args.frames // 4, 1)
    gmacs = counter.gmacs_per_frame()
    steady = slice(1, None)  # frame 0 is the key frame
    result = dict(
        weights=args.checkpoint or 'random (BatchNorm calibrated)', frames=args.frames,
        gate=args.gate, threshold=args.threshold, relative=args.relative, block=args.block,
        figures=args.figures, shake=args.shake,
        noise=args.noise, flicker=args.flicker,
        dense_ms=statistics.median(times['dense']) * 1e3,
        skipconv_ms=statistics.median(times['skipconv'][steady]) * 1e3,
        dense_gmacs=gmacs['dense'], executed_gmacs=gmacs['executed'],
        rel_err_first_quarter=statistics.mean(rel_err[:quarter]),
        rel_err_last_quarter=statistics.mean(rel_err[-quarter:]),
        keypoints_within_2px_first_quarter=statistics.mean(agree[:quarter]),
        keypoints_within_2px_last_quarter=statistics.mean(agree[-quarter:]),
        keypoints_within_2px_all=statistics.mean(agree),
        same_peak_cell_all=statistics.mean(same_cell),
        dense_vs_redrawn_noise_within_2px=statistics.mean(floor) if floor else 1.0)
    result['speedup'] = result['dense_ms'] / result['skipconv_ms']
    result['mac_ratio'] = result['executed_gmacs'] / result['dense_gmacs']
    print(f'\nHRNet-W32 256x192, {args.frames} frames, weights: {result["weights"]}, '
          f'{args.gate}(threshold={args.threshold}, relative={args.relative}, block={args.block}), '
          f'shake={args.shake}, '
          f'noise={args.noise}, flicker={args.flicker}')
    for key, value in result.items():
        if isinstance(value, float):
            print(f'  {key:<36}{value:.4f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)


if __name__ == '__main__':
    main()
