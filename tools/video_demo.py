"""Video pose, dense and SkipConv side by side: annotated video, per-frame plot, summary table.

    python tools/video_demo.py [--video FILE [--bbox X1 Y1 X2 Y2]] [--config CFG --checkpoint PTH]
        [--frames 60] [--relative 0.1] [--block 4] [--out-dir work_dirs/video_demo]

Without ``--video`` it renders a synthetic clip (two walking figures on a static textured
background, sensor noise and flicker; ``mmeff.utils.synthetic_video``) whose people boxes and
keypoints are known: the boxes stand in for a person detector and the keypoints score both
models. With ``--video`` the person box is ``--bbox`` (default: the whole frame), one track.

Without ``--checkpoint`` it uses the reduced-width HRNet of
``configs/pose/td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py``, trained once on the
synthetic video-pose dataset (``tools/generate_synthetic_pose_videos.py``) with mmengine's
runner (a few minutes on 2 cores) and cached under ``--cache-dir`` keyed on the config, so later
runs skip the training.

The dense model (BatchNorm folded) and its SkipConv copy (``mmeff.convert_to_skipconv``,
input-norm gates on b x b blocks, thresholds calibrated per layer on the first frames with
``mmeff.converters.calibrate_norm_gates``) run every person crop of every frame; each track keeps
a stable crop (re-cropped only when the person leaves it) and its own SkipConv stream.

Writes to ``--out-dir``: ``demo.mp4`` (left: dense keypoints; right: SkipConv keypoints with the
recomputed regions in red, shaded by the share of the conv MACs recomputed there),
``per_frame.csv``, ``macs_time.png`` and ``summary.json``; prints the summary table.
"""
import argparse
import copy
import csv
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

import mmeff
from mmeff.benchmark.checkpoints import DEFAULT_CACHE, trained_checkpoint
from mmeff.converters import calibrate_norm_gates
from mmeff.layers import SkipConv2d, StreamState, stream
from mmeff.utils import MacCounter, SyntheticVideoConfig, fold_batchnorms, synthetic_video
from mmeff.utils.synthetic_pose_dataset import JHMDB_FROM_SYNTHETIC, default_dataset_config

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / 'configs/pose/td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'

# ------------------------------------------------------------------------- the video


@dataclass
class Video:
    """Frames (BGR uint8) and, per track, the person box of every frame (x1, y1, x2, y2)."""
    frames: List[np.ndarray]
    boxes: Dict[int, np.ndarray]  # track -> (T, 4)
    keypoints: Optional[Dict[int, np.ndarray]] = None  # track -> (T, K, 2) ground truth
    fps: float = 15.0


def synthetic_clip(frames: int, seed: int = 1) -> Video:
    cfg = SyntheticVideoConfig(frames=frames, height=240, width=320, figures=2, max_speed=1.0,
                               figure_scale=0.3, seed=seed)
    video, keypoints = synthetic_video(cfg)
    bgr = [(f.permute(1, 2, 0).numpy()[..., ::-1] * 255).round().astype(np.uint8).copy()
           for f in video]
    margin = 0.03 * cfg.height  # the limbs' thickness
    kpts = keypoints[..., list(JHMDB_FROM_SYNTHETIC), :].numpy()  # (T, figures, 15, 2)
    boxes = {
        k: np.concatenate([kpts[:, k].min(1) - margin, kpts[:, k].max(1) + margin], 1)
        for k in range(cfg.figures)
    }
    return Video(bgr, boxes, {k: kpts[:, k] for k in range(cfg.figures)})


def read_video(path: str, bbox: Optional[List[float]], max_frames: int) -> Video:
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise FileNotFoundError(f'video_demo: cannot open video {path!r}')
    fps = capture.get(cv2.CAP_PROP_FPS) or 15.0
    frames = []
    while len(frames) < max_frames:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise ValueError(f'video_demo: {path!r} has no frames')
    h, w = frames[0].shape[:2]
    box = np.array(bbox if bbox else [0, 0, w - 1, h - 1], dtype=np.float64)
    return Video(frames, {0: np.tile(box, (len(frames), 1))}, fps=fps)


# ------------------------------------------------------------------------- the models


def test_pipeline(cfg: Config) -> Compose:
    dataset = cfg.test_dataloader.dataset
    while 'pipeline' not in dataset:  # unwrap VideoPoseDataset and the like
        dataset = dataset.dataset
    return Compose(dataset.pipeline)


def build_models(config: Path, checkpoint: str, block: int):
    from mmpose.apis import init_model
    dense = init_model(str(config), checkpoint, device='cpu').eval()
    fold_batchnorms(dense)  # the same arithmetic as the SkipConv copy
    skip = mmeff.convert_to_skipconv(copy.deepcopy(dense), gate=dict(type='InputNormGate',
                                                                     block_size=block))
    return dense, skip


class RecomputeMap:
    """Per frame and track, the share of each crop pixel's conv MACs that SkipConv recomputed.

    A layer's recomputed positions are where its cached output changed since the track's
    previous frame (on a track's first frame: everywhere), read from the layers' outputs, so it
    does not depend on how SkipConv2d executes its gates.
    """

    def __init__(self, model: torch.nn.Module):
        self.layers = [m for m in model.modules() if isinstance(m, SkipConv2d)]
        self.outputs: Dict[SkipConv2d, torch.Tensor] = {}
        self.previous: Dict[Tuple[int, SkipConv2d], torch.Tensor] = {}
        for layer in self.layers:
            layer.register_forward_hook(self._record)

    def _record(self, layer, args, out) -> None:
        self.outputs[layer] = out.detach().clone()  # later layers may modify ``out`` in place

    def heat(self, track: int, size_hw: Tuple[int, int]) -> np.ndarray:
        """(H, W) float in [0, 1] at the model input's resolution, for the frame just run."""
        total = np.zeros(size_hw, np.float32)
        weight = 0.0
        for layer in self.layers:
            out = self.outputs.pop(layer, None)
            if out is None or not layer.dense_macs:
                continue
            before = self.previous.get((track, layer))
            changed = (out != before).any(1)[0] if before is not None and \
                before.shape == out.shape else torch.ones(out.shape[-2:], dtype=torch.bool)
            self.previous[(track, layer)] = out
            total += layer.dense_macs * cv2.resize(changed.float().numpy(), size_hw[::-1],
                                                   interpolation=cv2.INTER_NEAREST)
            weight += layer.dense_macs
        return total / max(weight, 1.0)


# ------------------------------------------------------------------------- the run


@dataclass
class FrameStats:
    dense_macs: int = 0
    executed_macs: int = 0
    dense_s: float = 0.0
    skip_s: float = 0.0
    distances: List[float] = field(default_factory=list)  # SkipConv vs dense, px per keypoint
    dense_correct: List[bool] = field(default_factory=list)  # PCK@0.2 against ground truth
    skip_correct: List[bool] = field(default_factory=list)


def pck(pred: np.ndarray, gt: np.ndarray, box: np.ndarray, thr: float = 0.2) -> List[bool]:
    """Per keypoint: within thr x the box's longer side of the ground truth (JHMDB's PCK)."""
    size = max(box[2] - box[0], box[3] - box[1])
    return list(np.linalg.norm(pred - gt, axis=-1) <= thr * size)


def timed_step(model, batch) -> Tuple[list, float]:
    start = time.perf_counter()
    out = model.test_step(batch)
    return out, time.perf_counter() - start


def overlay(image: np.ndarray, heat: np.ndarray, center, scale, input_size) -> np.ndarray:
    """Warp the crop-resolution heat map back into the RGB frame and tint it red."""
    from mmpose.structures.bbox import get_warp_matrix
    inverse = get_warp_matrix(np.asarray(center), np.asarray(scale), 0, output_size=input_size,
                              inv=True)
    frame_heat = cv2.warpAffine(heat, inverse, (image.shape[1], image.shape[0]))[..., None]
    red = np.zeros_like(image)
    red[..., 0] = 255
    return (image * (1 - 0.5 * frame_heat) + red * 0.5 * frame_heat).astype(np.uint8)


def label(image: np.ndarray, text: str) -> np.ndarray:
    cv2.putText(image, text, (5, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                cv2.LINE_AA)
    return image


def run(video: Video, dense, skip, pipeline: Compose, relative: float, margin: float,
        out_dir: Path) -> List[FrameStats]:
    from mmpose.structures import merge_data_samples
    from mmpose.visualization import PoseLocalVisualizer

    from mmeff.pose import stable_crop_boxes

    crops = {k: stable_crop_boxes(boxes, margin) for k, boxes in video.boxes.items()}

    def batch(t: int, track: int) -> dict:
        centers, sizes = crops[track]
        info = dict(img=video.frames[t], bbox=video.boxes[track][t][None].astype(np.float32),
                    bbox_score=np.ones(1,
                                       np.float32), bbox_center=centers[t][None].astype(np.float32),
                    bbox_scale=sizes[t][None].astype(np.float32))
        return pseudo_collate([pipeline(info)])

    first = sorted(video.boxes)[0]
    calibration = [batch(t, first) for t in range(min(8, len(video.frames)))]
    thresholds = calibrate_norm_gates(skip, calibration, relative,
                                      forward=lambda b: skip.test_step(b))
    print_log(f'calibrated {len(thresholds)} input-norm gates at relative {relative}',
              logger='current')
    recompute = RecomputeMap(skip)
    streams = {k: StreamState() for k in video.boxes}
    visualizer = PoseLocalVisualizer(name=f'mmeff_video_demo_{id(video)}', radius=2, line_width=1)
    visualizer.set_dataset_meta(dense.dataset_meta)
    h, w = video.frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out_dir / 'demo.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), video.fps,
                             (2 * w, h))
    if not writer.isOpened():
        raise RuntimeError('video_demo: OpenCV cannot write mp4 (mp4v) here')
    stats: List[FrameStats] = []
    progress = ProgressBar(len(video.frames))
    with torch.no_grad(), MacCounter(dense) as dense_meter, \
            MacCounter(skip) as skip_meter:
        for t, frame in enumerate(video.frames):
            s = FrameStats()
            dense_samples, skip_samples = [], []
            rgb = frame[..., ::-1].copy()
            skip_view = rgb
            for track in video.boxes:
                data = batch(t, track)
                dense_meter.reset()
                skip_meter.reset()
                (d, ), seconds = timed_step(dense, data)
                s.dense_s += seconds
                with stream(streams[track]):
                    (k, ), seconds = timed_step(skip, data)
                s.skip_s += seconds
                s.dense_macs += dense_meter.dense
                s.executed_macs += skip_meter.executed
                dense_kpts, skip_kpts = d.pred_instances.keypoints[0], k.pred_instances.keypoints[0]
                s.distances += list(np.linalg.norm(dense_kpts - skip_kpts, axis=-1))
                if video.keypoints is not None:
                    gt, box = video.keypoints[track][t], video.boxes[track][t]
                    s.dense_correct += pck(dense_kpts, gt, box)
                    s.skip_correct += pck(skip_kpts, gt, box)
                meta = k.metainfo
                skip_view = overlay(skip_view, recompute.heat(track,
                                                              tuple(meta['input_size'][::-1])),
                                    meta['input_center'], meta['input_scale'],
                                    tuple(meta['input_size']))
                dense_samples.append(d)
                skip_samples.append(k)
            stats.append(s)
            panels = []
            for name, image, samples, macs, seconds in (('dense', rgb, dense_samples, s.dense_macs,
                                                         s.dense_s),
                                                        ('SkipConv', skip_view, skip_samples,
                                                         s.executed_macs, s.skip_s)):
                visualizer.add_datasample(name, image, merge_data_samples(samples), draw_gt=False,
                                          draw_bbox=True, kpt_thr=0.0, show=False)
                panel = np.ascontiguousarray(visualizer.get_image()[..., ::-1])
                panels.append(
                    label(panel, f'{name}: {macs / 1e6:.1f} MMACs, '
                          f'{seconds * 1e3:.1f} ms'))
            writer.write(np.concatenate(panels, 1))
            progress.update()
    writer.release()
    return stats


# ------------------------------------------------------------------------- reporting


def summarize(stats: List[FrameStats], threads: int) -> dict:
    steady = stats[1:] or stats  # frame 0 is every stream's key frame
    dense_ms = statistics.median(s.dense_s for s in steady) * 1e3
    skip_ms = statistics.median(s.skip_s for s in steady) * 1e3
    distances = np.concatenate([s.distances for s in stats])
    summary = dict(frames=len(stats), threads=threads,
                   dense_gmacs=statistics.mean(s.dense_macs for s in stats) / 1e9,
                   skipconv_gmacs=statistics.mean(s.executed_macs
                                                  for s in stats) / 1e9, dense_ms=dense_ms,
                   skipconv_ms=skip_ms, speedup=dense_ms / skip_ms, keypoints_within_2px=float(
                       (distances <= 2).mean()), mean_keypoint_distance_px=float(distances.mean()))
    summary['mac_ratio'] = summary['skipconv_gmacs'] / summary['dense_gmacs']
    if stats[0].dense_correct:
        summary['dense_pck'] = float(np.mean([c for s in stats for c in s.dense_correct]))
        summary['skipconv_pck'] = float(np.mean([c for s in stats for c in s.skip_correct]))
    return summary


def format_table(summary: dict) -> str:
    pck_dense = f'{summary["dense_pck"]:.3f}' if 'dense_pck' in summary else '-'
    pck_skip = f'{summary["skipconv_pck"]:.3f}' if 'skipconv_pck' in summary else '-'
    rows = [
        ('', 'GMACs/frame', 'ms/frame', 'speedup', 'PCK@0.2 (GT)', 'kpts <= 2 px of dense'),
        ('dense', f'{summary["dense_gmacs"]:.4f}', f'{summary["dense_ms"]:.1f}', '1.00', pck_dense,
         '-'),
        ('SkipConv', f'{summary["skipconv_gmacs"]:.4f} ({summary["mac_ratio"]:.0%})',
         f'{summary["skipconv_ms"]:.1f}', f'{summary["speedup"]:.2f}', pck_skip,
         f'{summary["keypoints_within_2px"]:.1%}'),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ['  '.join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return '\n'.join([lines[0], '-' * len(lines[0]), *lines[1:]]) + \
        f'\n({summary["frames"]} frames, {summary["threads"]} thread(s), ms: median over ' \
        'frames after the first, summed over the people in the frame)'


def write_outputs(stats: List[FrameStats], summary: dict, out_dir: Path) -> None:
    with open(out_dir / 'per_frame.csv', 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow([
            'frame', 'dense_gmacs', 'skipconv_gmacs', 'dense_ms', 'skipconv_ms',
            'keypoints_within_2px'
        ])
        for t, s in enumerate(stats):
            writer.writerow([
                t, s.dense_macs / 1e9, s.executed_macs / 1e9, s.dense_s * 1e3, s.skip_s * 1e3,
                float(np.mean(np.array(s.distances) <= 2))
            ])
    (out_dir / 'summary.json').write_text(json.dumps(summary, indent=2))
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    frames = range(len(stats))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    top.plot(frames, [s.dense_macs / 1e6 for s in stats], label='dense')
    top.plot(frames, [s.executed_macs / 1e6 for s in stats], label='SkipConv (executed)')
    top.set_ylabel('conv MMACs / frame')
    top.legend()
    bottom.plot(frames, [s.dense_s * 1e3 for s in stats], label='dense')
    bottom.plot(frames, [s.skip_s * 1e3 for s in stats], label='SkipConv')
    bottom.set_ylabel('ms / frame')
    bottom.set_xlabel('frame')
    bottom.legend()
    fig.tight_layout()
    fig.savefig(out_dir / 'macs_time.png', dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--video', help='video file (default: a generated synthetic clip)')
    parser.add_argument('--bbox', type=float, nargs=4, metavar=('X1', 'Y1', 'X2', 'Y2'),
                        help='person box for --video (default: the whole frame)')
    parser.add_argument('--frames', type=int, default=60, help='frames to run (at most)')
    parser.add_argument('--config', type=Path, default=DEFAULT_CONFIG)
    parser.add_argument('--checkpoint', help='dense weights (default: trained once, cached)')
    parser.add_argument('--cache-dir', type=Path, default=DEFAULT_CACHE)
    parser.add_argument('--relative', type=float, default=0.1,
                        help='gate thresholds relative to each layer\'s window norm')
    parser.add_argument('--block', type=int, default=4, help='SkipConv block size')
    parser.add_argument('--margin', type=float, default=1.25, help='stable crop margin')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (1: the tiny default model is fastest on one)')
    parser.add_argument('--out-dir', type=Path, default=REPO / 'work_dirs/video_demo')
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = args.checkpoint or str(
        trained_checkpoint(args.config, default_dataset_config(), args.cache_dir))
    video = read_video(args.video, args.bbox, args.frames) if args.video else \
        synthetic_clip(args.frames)
    dense, skip = build_models(args.config, checkpoint, args.block)
    cfg = Config.fromfile(str(args.config))
    stats = run(video, dense, skip, test_pipeline(cfg), args.relative, args.margin, args.out_dir)
    summary = summarize(stats, args.threads)
    write_outputs(stats, summary, args.out_dir)
    print('\n' + format_table(summary))
    print_log(f'wrote {args.out_dir}/demo.mp4, per_frame.csv, macs_time.png, summary.json',
              logger='current')
    return summary


if __name__ == '__main__':
    main()
