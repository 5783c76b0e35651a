"""Video pose, dense and SkipConv side by side: detect, track, estimate every person.

    python tools/video_demo.py [--video FILE --det-config CFG --det-checkpoint PTH|URL
        --config CFG --checkpoint PTH|URL] [--frames 60] [--det-interval 1] [--det-skipconv]
        [--relative 0.1] [--block 4] [--out-dir work_dirs/video_demo]

The pipeline of mmpose's ``demo/topdown_demo_with_mmdet.py``, on video: an mmdet detector
finds the people of a frame (class ``--det-cat-id``, score above ``--bbox-thr``, every
``--det-interval`` frames); ``mmeff.pose.IoUTracker`` links them into tracks; each track keeps a
stable crop (``mmeff.pose.StableCrop``: re-cropped only when the person leaves it) and its own
SkipConv stream, started when the track appears and dropped when it ends. The dense top-down
model (BatchNorm folded) and its SkipConv copy (``mmeff.convert_to_skipconv``, input-norm gates
on b x b blocks, thresholds calibrated with ``mmeff.converters.calibrate_norm_gates`` on the
first frames' crops) run every crop of every frame. The detector's time is reported on its own
and in the pipeline total; ``--det-skipconv`` also times a SkipConv copy of the detector in its
own stream (the tracks still follow the dense detector's boxes).

Without ``--video`` it renders a synthetic clip: three walking figures on a static textured
background with sensor noise, one leaving the view and one entering it
(``mmeff.utils.synthetic_video``), whose true keypoints score both models (PCK@0.2). The
default models are trained once on synthetic data with mmengine's runner and cached under
``--cache-dir`` (a few minutes on 2 cores): the EfficientDet-D0 person detector of
``configs/efficientdet/efficientdet_effb0_bifpn_1xb8-16e_synthetic-people-128x96.py`` and the
reduced-width HRNet of ``configs/pose/td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py``.
A ``--video`` without both checkpoints, or with weights that do not load, falls back to the
synthetic clip with a message: the synthetic models know no real people.

Writes to ``--out-dir``: ``demo.mp4`` (left: dense keypoints; right: SkipConv keypoints with the
recomputed regions in red, shaded by the share of the conv MACs recomputed there),
``per_frame.csv``, ``macs_time.png`` and ``summary.json``; prints the summary table and a
verdict line.
"""
import argparse
import copy
import csv
import json
import logging
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
from mmengine.registry import DefaultScope
from mmengine.utils import ProgressBar

import mmeff
from mmeff.benchmark.checkpoints import DEFAULT_CACHE, PeopleDetectionDataset, trained_checkpoint
from mmeff.converters import calibrate_norm_gates
from mmeff.layers import SkipConv2d, StreamState, stream
from mmeff.pose import IoUTracker, StableCrop, box_iou
from mmeff.utils import (MacCounter, SyntheticVideoConfig, fold_batchnorms, people_boxes,
                         synthetic_video)
from mmeff.utils.synthetic_pose_dataset import JHMDB_FROM_SYNTHETIC, default_dataset_config

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / 'configs/pose/td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'
DEFAULT_DET_CONFIG = (REPO / 'configs/efficientdet' /
                      'efficientdet_effb0_bifpn_1xb8-16e_synthetic-people-128x96.py')
SYNTHETIC_SPEED = 1.5  # walking speed of the synthetic clip's figures, pixels per frame

# ------------------------------------------------------------------------- the video


@dataclass
class Video:
    """Frames (BGR uint8) and, for a synthetic clip, the true keypoints of every figure."""
    frames: List[np.ndarray]
    keypoints: Optional[np.ndarray] = None  # (T, figures, K, 2) ground truth
    fps: float = 15.0


def synthetic_clip(frames: int, seed: int = 1) -> Video:
    """The first ``frames`` frames of a clip of at least 60 frames: three walking figures on a
    static textured background, the first leaving the view at frame 10, the second entering at
    frame 30 and the third leaving at frame 50 (``SyntheticVideoConfig.crossing``)."""
    cfg = SyntheticVideoConfig(frames=max(frames, 60), height=240, width=320, figures=3,
                               max_speed=SYNTHETIC_SPEED, figure_scale=0.3, crossing=True,
                               seed=seed)
    video, keypoints = synthetic_video(cfg)
    bgr = [(f.permute(1, 2, 0).numpy()[..., ::-1] * 255).round().astype(np.uint8).copy()
           for f in video[:frames]]
    return Video(bgr, keypoints[:frames, :, list(JHMDB_FROM_SYNTHETIC)].numpy())


def read_video(path: str, max_frames: int) -> Video:
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
    return Video(frames, fps=fps)


def true_figure(keypoints: np.ndarray, box: np.ndarray, height: int, width: int) -> Optional[int]:
    """The synthetic figure whose true box overlaps the detected ``box`` most (IoU >= 0.5), if
    all its keypoints are in view, else None. ``keypoints``: (figures, K, 2) of the frame."""
    truth = people_boxes(torch.from_numpy(keypoints[None]), height, width)[0]
    if not truth:
        return None
    iou = box_iou(box[None], np.array([b for b, _ in truth]))[0]
    figure = truth[int(iou.argmax())][1]
    x, y = keypoints[figure, :, 0], keypoints[figure, :, 1]
    in_view = (x >= 0).all() and (x < width).all() and (y >= 0).all() and (y < height).all()
    return figure if iou.max() >= 0.5 and in_view else None


# ------------------------------------------------------------------------- the models


def test_pipeline(cfg: Config) -> Compose:
    """The pose config's test pipeline, built in mmpose's scope (the detector's may be set)."""
    dataset = cfg.test_dataloader.dataset
    while 'pipeline' not in dataset:  # unwrap VideoPoseDataset and the like
        dataset = dataset.dataset
    with DefaultScope.overwrite_default_scope('mmpose'):
        return Compose(dataset.pipeline)


def input_aspect_ratio(pipeline: Compose) -> Optional[float]:
    """Width / height of the pose model's input (its TopdownAffine's ``input_size``)."""
    sizes = [t.input_size for t in pipeline.transforms if hasattr(t, 'input_size')]
    return sizes[0][0] / sizes[0][1] if sizes else None


def with_skipconv_copy(dense: torch.nn.Module, block: int):
    """``dense`` with its BatchNorms folded (the same arithmetic as the SkipConv copy) and its
    SkipConv copy (input-norm gates on ``block`` x ``block`` blocks, thresholds set later)."""
    fold_batchnorms(dense.eval())
    gate = dict(type='InputNormGate', block_size=block)
    return dense, mmeff.convert_to_skipconv(copy.deepcopy(dense), gate=gate)


def build_pose_models(config: Path, checkpoint: str, block: int):
    """The dense pose model and its SkipConv copy, both without flip test: a flipped pass of the
    SkipConv model would run through the same stream as the frame's own."""
    from mmpose.apis import init_model
    model = init_model(str(config), checkpoint, device='cpu')
    if (model.test_cfg or {}).get('flip_test'):
        print_log('video_demo: flip test is turned off for both pose models', logger='current')
    model.test_cfg = dict(model.test_cfg or {}, flip_test=False)
    return with_skipconv_copy(model, block)


class Detector:
    """An mmdet detector run on whole frames: the person boxes of class ``cat_id`` scored above
    ``bbox_thr``. ``skip`` is its SkipConv copy (own stream) or None; the boxes always come from
    the dense model, so both pose pipelines see the same tracks."""

    def __init__(self, config: Path, checkpoint: str, cat_id: int, bbox_thr: float, skipconv: bool,
                 block: int):
        from mmdet.apis import init_detector
        from mmdet.utils import get_test_pipeline_cfg
        model = init_detector(str(config), checkpoint, device='cpu')
        pipeline = get_test_pipeline_cfg(model.cfg)
        pipeline[0].type = 'LoadImageFromNDArray'
        for transform in pipeline:  # mmdet's transforms, whatever the default scope
            transform.type = transform.type if '.' in transform.type else f'mmdet.{transform.type}'
        self.pipeline = Compose(pipeline)
        self.dense, skip = with_skipconv_copy(model, block)
        self.skip = skip if skipconv else None
        self.stream = StreamState()
        self.cat_id, self.bbox_thr = cat_id, bbox_thr

    def batch(self, frame: np.ndarray) -> dict:
        return pseudo_collate([self.pipeline(dict(img=frame, img_id=0))])

    def boxes(self, sample) -> np.ndarray:
        """(K, 4) person boxes (x1, y1, x2, y2) of a detection result."""
        instances = sample.pred_instances
        keep = (instances.labels == self.cat_id) & (instances.scores > self.bbox_thr)
        return instances.bboxes[keep].numpy().astype(np.float64)

    def calibrate(self, frames: List[np.ndarray], relative: float) -> None:
        if self.skip is not None:
            calibrate_norm_gates(self.skip, [self.batch(f) for f in frames], relative,
                                 forward=self.skip.test_step)


@dataclass
class ComparedModel:
    """Another dense pose model timed on the same crops (e.g. RTMPose-m, what a CPU user would
    otherwise pick); its keypoints are not scored."""
    model: torch.nn.Module
    pipeline: Compose


def load_compared(config: Path, checkpoint: Optional[str]) -> ComparedModel:
    from mmpose.apis import init_model
    model = init_model(str(config), checkpoint, device='cpu').eval()
    fold_batchnorms(model)  # as the dense model
    model.test_cfg = dict(model.test_cfg, flip_test=False)  # as the other two
    return ComparedModel(model, test_pipeline(model.cfg))


def load_or_fallback(what: str, init, *args):
    """``init(*args)``, or None with the reason printed when the weights cannot be loaded."""
    try:
        return init(*args)
    except (OSError, RuntimeError, ValueError) as error:  # unreachable URL, missing file
        print_log(f'video_demo: cannot load the {what}: {error}', logger='current',
                  level=logging.WARNING)
        return None


class RecomputeMap:
    """Per frame and track, the share of each crop pixel's conv MACs that SkipConv recomputed.

    A layer's recomputed positions are where its cached output (in the track's stream) changed
    since the track's previous frame (on a track's first frame: everywhere). It reads the
    streams after the timed step, so it adds nothing to SkipConv's time and does not depend on
    how SkipConv2d executes its gates.
    """

    def __init__(self, model: torch.nn.Module):
        self.layers = [m for m in model.modules() if isinstance(m, SkipConv2d)]
        self.previous: Dict[Tuple[int, SkipConv2d], torch.Tensor] = {}

    def forget(self, track: int) -> None:
        """Drop an ended track's outputs."""
        for layer in self.layers:
            self.previous.pop((track, layer), None)

    def heat(self, track: int, state: StreamState, size_hw: Tuple[int, int]) -> np.ndarray:
        """(H, W) float in [0, 1] at the model input's resolution, for the frame just run in
        ``state``."""
        total = np.zeros(size_hw, np.float32)
        weight = 0.0
        for layer in self.layers:
            entry = state.get(layer)
            if entry is None or not layer.dense_macs:
                continue
            out, before = entry.output, self.previous.get((track, layer))
            changed = (out != before).any(1)[0] if before is not None and \
                before.shape == out.shape else torch.ones(out.shape[-2:], dtype=torch.bool)
            self.previous[(track, layer)] = out.clone()
            total += layer.dense_macs * cv2.resize(changed.float().numpy(), size_hw[::-1],
                                                   interpolation=cv2.INTER_NEAREST)
            weight += layer.dense_macs
        return total / max(weight, 1.0)


# ------------------------------------------------------------------------- the run


@dataclass
class FrameStats:
    """One frame: pose costs summed over the tracks, the detector's, and keypoint agreement."""
    dense_macs: int = 0
    executed_macs: int = 0
    dense_s: float = 0.0
    skip_s: float = 0.0
    det_dense_s: float = 0.0
    det_skip_s: Optional[float] = None  # with --det-skipconv
    compare_s: float = 0.0  # the compared model (--compare-config)
    det_dense_macs: int = 0
    det_executed_macs: int = 0
    tracks: int = 0
    distances: List[float] = field(default_factory=list)  # SkipConv vs dense, px per keypoint
    dense_correct: List[bool] = field(default_factory=list)  # PCK@0.2 against ground truth
    skip_correct: List[bool] = field(default_factory=list)


@dataclass
class TrackLog:
    """What one track saw and predicted: its frames, boxes, crops and SkipConv keypoints."""
    frames: List[int] = field(default_factory=list)
    boxes: List[np.ndarray] = field(default_factory=list)
    centers: List[np.ndarray] = field(default_factory=list)
    sizes: List[np.ndarray] = field(default_factory=list)
    keypoints: List[np.ndarray] = field(default_factory=list)  # SkipConv, (K, 2) per frame
    distances: List[float] = field(default_factory=list)  # SkipConv vs dense, px per keypoint
    crops: int = 0  # stable crops started (each one a key frame of the track's stream)


def pck(pred: np.ndarray, gt: np.ndarray, box: np.ndarray, thr: float = 0.2) -> List[bool]:
    """Per keypoint: within thr x the box's longer side of the ground truth (JHMDB's PCK)."""
    size = max(box[2] - box[0], box[3] - box[1])
    return list(np.linalg.norm(pred - gt, axis=-1) <= thr * size)


def timed_step(model, batch) -> Tuple[list, float]:
    start = time.perf_counter()
    out = model.test_step(batch)
    return out, time.perf_counter() - start


def pose_batch(pipeline: Compose, frame: np.ndarray, box: np.ndarray, center: np.ndarray,
               size: np.ndarray, meta: Optional[dict] = None) -> dict:
    """The top-down input of one person: ``box`` cropped at the stable crop (center, size)."""
    info = dict(meta or {}, img=frame, bbox=box[None].astype(np.float32),
                bbox_score=np.ones(1, np.float32), bbox_center=center[None].astype(np.float32),
                bbox_scale=size[None].astype(np.float32))
    return pseudo_collate([pipeline(info)])


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


@dataclass
class Settings:
    relative: float = 0.1  # pose gate thresholds, relative to each layer's window norm
    det_relative: float = 0.1  # the same for the SkipConv detector
    margin: float = 1.25  # stable crop margin
    aspect_ratio: Optional[float] = None  # the pose input's width / height (stable crops)
    det_interval: int = 1  # run the detector every this many frames
    min_iou: float = 0.3  # tracking


def calibration_crops(video: Video, detector: Detector, pipeline: Compose,
                      settings: Settings) -> List[dict]:
    """Pose inputs of the people detected in the first frames (to calibrate the gates)."""
    crops = []
    for frame in video.frames[:8]:
        (sample, ) = detector.dense.test_step(detector.batch(frame))
        for box in detector.boxes(sample):
            center, size = StableCrop(settings.margin, settings.aspect_ratio).update(box)
            crops.append(pose_batch(pipeline, frame, box, center, size))
    return crops[:8]


def run(video: Video, detector: Detector, dense, skip, pipeline: Compose, settings: Settings,
        out_dir: Path,
        compare: Optional[ComparedModel] = None) -> Tuple[List[FrameStats], Dict[int, TrackLog]]:
    """Detect, track and estimate every person of every frame, dense and SkipConv (one stream
    per track); write the side-by-side video. Returns per-frame stats and per-track logs."""
    from mmpose.structures import merge_data_samples
    from mmpose.visualization import PoseLocalVisualizer

    calibration = calibration_crops(video, detector, pipeline, settings)
    if calibration:
        calibrate_norm_gates(skip, calibration, settings.relative, forward=skip.test_step)
        print_log(
            f'calibrated the pose gates at relative {settings.relative} on '
            f'{len(calibration)} crops', logger='current')
    else:
        print_log(
            'video_demo: nobody detected in the first frames; the pose gates keep '
            'threshold 0 (exact, slow)', logger='current', level=logging.WARNING)
    detector.calibrate(video.frames[:8], settings.det_relative)
    recompute = RecomputeMap(skip)
    tracker = IoUTracker(settings.min_iou)
    streams: Dict[int, StreamState] = {}
    crops: Dict[int, StableCrop] = {}
    logs: Dict[int, TrackLog] = {}
    visualizer = PoseLocalVisualizer(name=f'mmeff_video_demo_{id(video)}', radius=2, line_width=1)
    visualizer.set_dataset_meta(dense.dataset_meta)
    h, w = video.frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out_dir / 'demo.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), video.fps,
                             (2 * w, h))
    if not writer.isOpened():
        raise RuntimeError('video_demo: OpenCV cannot write mp4 (mp4v) here')
    stats: List[FrameStats] = []
    progress = ProgressBar(len(video.frames))
    boxes = np.zeros((0, 4))
    with torch.no_grad(), MacCounter(dense) as dense_meter, MacCounter(skip) as skip_meter, \
            MacCounter(detector.dense) as det_meter:
        skip_det_meter = MacCounter(detector.skip) if detector.skip is not None else None
        for t, frame in enumerate(video.frames):
            s = FrameStats()
            if t % settings.det_interval == 0:
                batch = detector.batch(frame)
                det_meter.reset()
                (sample, ), s.det_dense_s = timed_step(detector.dense, batch)
                s.det_dense_macs = det_meter.dense
                boxes = detector.boxes(sample)
                if detector.skip is not None:
                    skip_det_meter.reset()
                    with stream(detector.stream):
                        _, s.det_skip_s = timed_step(detector.skip, batch)
                    s.det_executed_macs = skip_det_meter.executed
            ids = tracker.update(boxes)
            for ended in tracker.ended:  # a track's stream starts and ends with it
                streams.pop(ended, None)
                crops.pop(ended, None)
                recompute.forget(ended)
            s.tracks = len(ids)
            dense_samples, skip_samples = [], []
            rgb = frame[..., ::-1].copy()
            skip_view = rgb
            for i, (track, box) in enumerate(zip(ids, boxes)):
                cropper = crops.setdefault(track, StableCrop(settings.margin,
                                                             settings.aspect_ratio))
                center, size = cropper.update(box)
                data = pose_batch(pipeline, frame, box, center, size)
                dense_meter.reset()
                skip_meter.reset()
                with stream(streams.setdefault(track, StreamState())):
                    if (t + i) % 2:  # alternate which model runs first
                        (k, ), skip_seconds = timed_step(skip, data)
                        (d, ), dense_seconds = timed_step(dense, data)
                    else:
                        (d, ), dense_seconds = timed_step(dense, data)
                        (k, ), skip_seconds = timed_step(skip, data)
                s.dense_s += dense_seconds
                s.skip_s += skip_seconds
                if compare is not None:
                    s.compare_s += timed_step(
                        compare.model,
                        pose_batch(compare.pipeline, frame, box, center, size,
                                   compare.model.dataset_meta))[1]
                s.dense_macs += dense_meter.dense
                s.executed_macs += skip_meter.executed
                dense_kpts, skip_kpts = d.pred_instances.keypoints[0], k.pred_instances.keypoints[0]
                distances = list(np.linalg.norm(dense_kpts - skip_kpts, axis=-1))
                s.distances += distances
                log = logs.setdefault(track, TrackLog())
                log.crops += cropper.recropped
                for values, value in ((log.frames, t), (log.boxes, box), (log.centers, center),
                                      (log.sizes, size), (log.keypoints, skip_kpts)):
                    values.append(value)
                log.distances += distances
                if video.keypoints is not None:
                    figure = true_figure(video.keypoints[t], box, h, w)
                    if figure is not None:
                        gt = video.keypoints[t, figure]
                        s.dense_correct += pck(dense_kpts, gt, box)
                        s.skip_correct += pck(skip_kpts, gt, box)
                meta = k.metainfo
                skip_view = overlay(
                    skip_view, recompute.heat(track, streams[track],
                                              tuple(meta['input_size'][::-1])),
                    meta['input_center'], meta['input_scale'], tuple(meta['input_size']))
                dense_samples.append(d)
                skip_samples.append(k)
            stats.append(s)
            panels = []
            for name, image, samples, macs, seconds in (('dense', rgb, dense_samples, s.dense_macs,
                                                         s.dense_s),
                                                        ('SkipConv', skip_view, skip_samples,
                                                         s.executed_macs, s.skip_s)):
                if samples:
                    visualizer.add_datasample(name, image, merge_data_samples(samples),
                                              draw_gt=False, draw_bbox=True, kpt_thr=0.0,
                                              show=False)
                    image = visualizer.get_image()
                panel = np.ascontiguousarray(image[..., ::-1])
                panels.append(
                    label(panel, f'{name} pose: {macs / 1e6:.1f} MMACs, {seconds * 1e3:.1f} ms'))
            writer.write(np.concatenate(panels, 1))
            progress.update()
        if skip_det_meter is not None:
            skip_det_meter.close()
    writer.release()
    return stats, logs


# ------------------------------------------------------------------------- reporting


def median_ms(values) -> float:
    values = list(values)
    return statistics.median(values) * 1e3 if values else float('nan')


def ratio(a: float, b: float) -> float:
    return a / b if b else float('nan')


def summarize(stats: List[FrameStats], logs: Dict[int, TrackLog], threads: int) -> dict:
    """Medians over the frames after the first (every stream's first frame is a key frame);
    pose times over the frames with people in them (NaN when nobody was detected)."""
    steady = stats[1:] or stats
    pose_dense = median_ms(s.dense_s for s in steady if s.tracks)
    pose_skip = median_ms(s.skip_s for s in steady if s.tracks)
    det_dense = median_ms(s.det_dense_s for s in steady if s.det_dense_macs)
    det_skip = median_ms(s.det_skip_s for s in steady if s.det_skip_s is not None)
    dense_pipeline = median_ms(s.det_dense_s + s.dense_s for s in steady)
    skip_pipeline = median_ms(
        (s.det_dense_s if s.det_skip_s is None else s.det_skip_s) + s.skip_s for s in steady)
    distances = np.array([d for s in stats for d in s.distances])
    dense_macs = sum(s.dense_macs for s in stats)
    summary = dict(
        frames=len(stats), threads=threads, tracks=len(logs), most_people_in_a_frame=max(
            s.tracks for s in stats), dense_gmacs=dense_macs / len(stats) / 1e9,
        skipconv_gmacs=sum(s.executed_macs for s in stats) / len(stats) / 1e9,
        mac_ratio=sum(s.executed_macs for s in stats) / max(dense_macs, 1), dense_ms=pose_dense,
        skipconv_ms=pose_skip, speedup=ratio(pose_dense, pose_skip), detector_ms=det_dense,
        detector_gmacs=statistics.mean(s.det_dense_macs for s in stats) / 1e9,
        dense_pipeline_ms=dense_pipeline, skipconv_pipeline_ms=skip_pipeline,
        pipeline_speedup=ratio(dense_pipeline, skip_pipeline), keypoints_within_2px=float(
            (distances <= 2).mean()) if len(distances) else float('nan'),
        mean_keypoint_distance_px=float(distances.mean()) if len(distances) else float('nan'),
        crops_per_track=statistics.mean(log.crops for log in logs.values()) if logs else 0.0,
        per_track_within_2px={
            str(track): float(np.mean(np.array(log.distances) <= 2))
            for track, log in logs.items()
        })
    if any(s.compare_s for s in stats):
        summary['compared_ms'] = median_ms(s.compare_s for s in steady if s.tracks)
        summary['compared_pipeline_ms'] = median_ms(s.det_dense_s + s.compare_s for s in steady)
    if any(s.det_skip_s is not None for s in stats):
        summary['skipconv_detector_ms'] = det_skip
        summary['detector_speedup'] = det_dense / det_skip
        summary['detector_mac_ratio'] = sum(s.det_executed_macs for s in stats) / max(
            sum(s.det_dense_macs for s in stats), 1)
    if any(s.dense_correct for s in stats):
        summary['dense_pck'] = float(np.mean([c for s in stats for c in s.dense_correct]))
        summary['skipconv_pck'] = float(np.mean([c for s in stats for c in s.skip_correct]))
    return summary


def format_table(summary: dict) -> str:
    pck_dense = f'{summary["dense_pck"]:.3f}' if 'dense_pck' in summary else '-'
    pck_skip = f'{summary["skipconv_pck"]:.3f}' if 'skipconv_pck' in summary else '-'
    det_skip = summary.get('skipconv_detector_ms', summary['detector_ms'])
    rows = [
        ('', 'pose GMACs/frame', 'pose ms', 'pose speed-up', 'detector ms', 'pipeline ms',
         'pipeline speed-up', 'PCK@0.2 (GT)', 'kpts <= 2 px of dense'),
        ('dense', f'{summary["dense_gmacs"]:.4f}', f'{summary["dense_ms"]:.1f}', '1.00',
         f'{summary["detector_ms"]:.1f}', f'{summary["dense_pipeline_ms"]:.1f}', '1.00', pck_dense,
         '-'),
        ('SkipConv', f'{summary["skipconv_gmacs"]:.4f} ({summary["mac_ratio"]:.0%})',
         f'{summary["skipconv_ms"]:.1f}', f'{summary["speedup"]:.2f}', f'{det_skip:.1f}',
         f'{summary["skipconv_pipeline_ms"]:.1f}', f'{summary["pipeline_speedup"]:.2f}', pck_skip,
         f'{summary["keypoints_within_2px"]:.1%}'),
    ]
    if 'compared_ms' in summary:
        rows.append((summary['compared_model'], '-', f'{summary["compared_ms"]:.1f}',
                     f'{ratio(summary["dense_ms"], summary["compared_ms"]):.2f}',
                     f'{summary["detector_ms"]:.1f}', f'{summary["compared_pipeline_ms"]:.1f}',
                     f'{ratio(summary["dense_pipeline_ms"], summary["compared_pipeline_ms"]):.2f}',
                     '-', '-'))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ['  '.join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    detector = 'SkipConv detector (own stream)' if 'skipconv_detector_ms' in summary else \
        'the dense detector in both pipelines'
    return '\n'.join([lines[0], '-' * len(lines[0]), *lines[1:]]) + \
        f'\n({summary["frames"]} frames, {summary["tracks"]} tracks, at most ' \
        f'{summary["most_people_in_a_frame"]} people in a frame, {summary["threads"]} ' \
        f'thread(s); {detector}; ms: median over frames after the first, pose summed over ' \
        'the people in the frame)'


def write_outputs(stats: List[FrameStats], summary: dict, out_dir: Path) -> None:
    with open(out_dir / 'per_frame.csv', 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow([
            'frame', 'people', 'dense_gmacs', 'skipconv_gmacs', 'dense_ms', 'skipconv_ms',
            'detector_ms', 'keypoints_within_2px'
        ])
        for t, s in enumerate(stats):
            writer.writerow([
                t, s.tracks, s.dense_macs / 1e9, s.executed_macs / 1e9, s.dense_s * 1e3,
                s.skip_s * 1e3, s.det_dense_s * 1e3,
                float(np.mean(np.array(s.distances) <= 2)) if s.distances else ''
            ])
    (out_dir / 'summary.json').write_text(json.dumps(summary, indent=2))
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    frames = range(len(stats))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    top.plot(frames, [s.dense_macs / 1e6 for s in stats], label='dense pose')
    top.plot(frames, [s.executed_macs / 1e6 for s in stats], label='SkipConv pose (executed)')
    top.set_ylabel('conv MMACs / frame')
    top.legend()
    bottom.plot(frames, [s.dense_s * 1e3 for s in stats], label='dense pose')
    bottom.plot(frames, [s.skip_s * 1e3 for s in stats], label='SkipConv pose')
    bottom.plot(frames, [s.det_dense_s * 1e3 for s in stats], label='detector', linestyle=':')
    bottom.set_ylabel('ms / frame')
    bottom.set_xlabel('frame')
    bottom.legend()
    fig.tight_layout()
    fig.savefig(out_dir / 'macs_time.png', dpi=100)
    plt.close(fig)


def verdict(summary: dict) -> str:
    """One line on whether SkipConv pays in this run, from its own measurements."""
    if not summary['tracks']:
        return 'Nobody was detected, so no pose model ran (lower --bbox-thr, or check the ' \
            'detector and --det-cat-id).'
    if 'dense_pck' in summary:
        change = (summary['skipconv_pck'] - summary['dense_pck']) * 100
        fidelity = (f'PCK@0.2 {summary["skipconv_pck"]:.3f} against dense '
                    f'{summary["dense_pck"]:.3f} ({change:+.1f} points)')
    else:
        fidelity = f'{summary["keypoints_within_2px"]:.0%} of keypoints within 2 px of dense'
    line = (f'SkipConv pose runs at {summary["speedup"]:.2f}x the dense pose model with '
            f'{summary["mac_ratio"]:.0%} of its MACs, {fidelity}; the pipeline with the '
            f'detector at {summary["pipeline_speedup"]:.2f}x.')
    if summary['speedup'] < 1.5:
        line += (' That is below the 1.5x that pays for SkipConv: on this model the gates, the '
                 'state, the undo log and the dispatch of every layer cost about as much as the '
                 'skipped convolutions (docs/video_pose.md#the-main-job-toolsvideo_demopy shows '
                 'HRNet-W32 in the same pipeline).')
    return line


def load_models(args):
    """(video, detector, dense pose, SkipConv pose, pose config) for the arguments, falling back
    to the synthetic default where a real video lacks weights that load."""
    synthetic = args.video is None
    if not synthetic and not (args.checkpoint and args.det_checkpoint):
        print_log(
            'video_demo: --video needs a person detector (--det-config, --det-checkpoint) and a '
            'pose model (--config, --checkpoint) trained on real people; the default models '
            'know only the synthetic walking figures and would draw nonsense on your video. '
            'Running the synthetic default clip instead.', logger='current', level=logging.WARNING)
        synthetic = True
    models = None
    if not synthetic:
        pose = load_or_fallback('pose model', build_pose_models, args.config, args.checkpoint,
                                args.block)
        detector = pose and load_or_fallback('detector', Detector, args.det_config,
                                             args.det_checkpoint, args.det_cat_id, args.bbox_thr,
                                             args.det_skipconv, args.block)
        if detector is None:
            print_log('video_demo: running the synthetic default clip instead', logger='current',
                      level=logging.WARNING)
            synthetic = True
        else:
            models = (read_video(args.video, args.frames), detector, *pose, args.config)
    if synthetic:
        config = args.config if args.checkpoint else DEFAULT_CONFIG
        checkpoint = args.checkpoint or str(
            trained_checkpoint(DEFAULT_CONFIG, default_dataset_config(), args.cache_dir))
        det_config = args.det_config if args.det_checkpoint else DEFAULT_DET_CONFIG
        det_checkpoint = args.det_checkpoint or str(
            trained_checkpoint(DEFAULT_DET_CONFIG, PeopleDetectionDataset(), args.cache_dir))
        detector = Detector(det_config, det_checkpoint, args.det_cat_id, args.bbox_thr,
                            args.det_skipconv, args.block)
        models = (synthetic_clip(args.frames), detector,
                  *build_pose_models(config, checkpoint, args.block), config)
    return models


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--video', help='video file (default: a generated synthetic clip)')
    parser.add_argument('--frames', type=int, default=60, help='frames to run (at most)')
    parser.add_argument('--config', type=Path, default=DEFAULT_CONFIG, help='mmpose config')
    parser.add_argument('--checkpoint', help='pose weights, path or URL (default: trained once)')
    parser.add_argument('--det-config', type=Path, default=DEFAULT_DET_CONFIG,
                        help='mmdet config of the person detector')
    parser.add_argument('--det-checkpoint',
                        help='detector weights, path or URL (default: trained once)')
    parser.add_argument('--det-cat-id', type=int, default=0,
                        help='the detector\'s class index of people (0 in COCO)')
    parser.add_argument('--bbox-thr', type=float, default=0.3, help='detection score threshold')
    parser.add_argument('--det-interval', type=int, default=1,
                        help='run the detector every this many frames')
    parser.add_argument('--det-skipconv', action='store_true',
                        help='also run a SkipConv copy of the detector (own stream) and time it')
    parser.add_argument('--det-relative', type=float, default=0.1,
                        help='the SkipConv detector\'s gate thresholds, relative')
    parser.add_argument('--compare-config', type=Path,
                        help='another dense mmpose model to time on the same crops (RTMPose-m)')
    parser.add_argument('--compare-checkpoint', help='its weights (default: random, timing only)')
    parser.add_argument('--cache-dir', type=Path, default=DEFAULT_CACHE)
    parser.add_argument('--relative', type=float, default=0.1,
                        help='pose gate thresholds relative to each layer\'s window norm')
    parser.add_argument('--block', type=int, default=4, help='SkipConv block size')
    parser.add_argument('--margin', type=float, default=1.25, help='stable crop margin')
    parser.add_argument('--min-iou', type=float, default=0.3, help='tracking: least IoU')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (1: the tiny default model is fastest on one)')
    parser.add_argument('--out-dir', type=Path, default=REPO / 'work_dirs/video_demo')
    args = parser.parse_args(argv)
    if args.det_interval < 1:
        parser.error(f'--det-interval must be >= 1, got {args.det_interval}')
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    video, detector, dense, skip, config = load_models(args)
    pipeline = test_pipeline(Config.fromfile(str(config)))
    settings = Settings(relative=args.relative, det_relative=args.det_relative, margin=args.margin,
                        aspect_ratio=input_aspect_ratio(pipeline), det_interval=args.det_interval,
                        min_iou=args.min_iou)
    compare = args.compare_config and load_compared(args.compare_config, args.compare_checkpoint)
    stats, logs = run(video, detector, dense, skip, pipeline, settings, args.out_dir, compare)
    summary = summarize(stats, logs, args.threads)
    if compare:
        summary['compared_model'] = Path(args.compare_config).stem + (
            '' if args.compare_checkpoint else ' (random weights: time only)')
    summary['verdict'] = verdict(summary)
    write_outputs(stats, summary, args.out_dir)
    print('\n' + format_table(summary) + '\n' + summary['verdict'])
    print_log(f'wrote {args.out_dir}/demo.mp4, per_frame.csv, macs_time.png, summary.json',
              logger='current')
    return summary


if __name__ == '__main__':
    main()
