"""Detect, track and estimate every person of every frame, dense and SkipConv side by side:
the top-down pipeline of mmpose's ``demo/topdown_demo_with_mmdet.py`` on video, with one SkipConv
stream per track (started when the track appears, dropped when it ends)."""
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from ..converters import calibrate_norm_gates
from ..layers import SkipConv2d, StreamState, stream
from ..pose import IoUTracker, StableCrop
from ..utils import MacCounter
from .video_pose_models import ComparedModel, Detector
from .video_source import Video, true_figure


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


def run_video_pose(
        video: Video, detector: Detector, dense, skip, pipeline: Compose, settings: Settings,
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
