"""Dataset wrappers that turn a top-down mmpose dataset into videos: per-track frame order for
evaluation (:class:`VideoPoseDataset`) and clips of consecutive frames for gate training
(:class:`VideoClipDataset`).

A video is the folder of a frame's image (``dirname(img_path)``: JHMDB's ``Frames/<video>/``,
PoseTrack18's ``images/<split>/<video>/``), its frames are ordered by image path, and its
people are linked into tracks by :func:`~mmeff.pose.video_tracks.assign_tracks`. Each track is
one SkipConv stream, named by ``stream_key`` in the samples' metainfo.
"""
import copy
import os.path as osp
import random
from collections import defaultdict
from typing import Dict, List, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset, pseudo_collate
from mmengine.registry import FUNCTIONS
from mmpose.registry import DATASETS

from .video_tracks import assign_tracks, stable_crop_boxes


def _build(dataset: Union[dict, BaseDataset]) -> BaseDataset:
    return DATASETS.build(dataset) if isinstance(dataset, dict) else dataset


def indices_by_track(dataset: BaseDataset, min_iou: float = 0.3) -> Dict[str, List[int]]:
    """Link the person boxes of each video of ``dataset`` into tracks (:func:`assign_tracks`)
    and group the dataset indices by track: stream key ('<video>#<track>') -> the indices of
    that track in temporal order."""
    frames: Dict[str, Dict[str, List[int]]] = defaultdict(lambda: defaultdict(list))
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        frames[osp.dirname(info['img_path'])][info['img_path']].append(idx)
    streams: Dict[str, List[int]] = {}
    for video in sorted(frames):
        paths = sorted(frames[video])
        per_frame = [frames[video][p] for p in paths]
        boxes = [
            np.concatenate([dataset.get_data_info(i)['bbox'] for i in idx]) for idx in per_frame
        ]
        for indices, track_ids in zip(per_frame, assign_tracks(boxes, min_iou)):
            for idx, track in zip(indices, track_ids):
                streams.setdefault(f'{video}#{track}', []).append(idx)
    return streams


class _VideoWrapper:
    """What both wrappers share: the wrapped dataset and its metainfo."""

    def __init__(self, dataset: Union[dict, BaseDataset], margin: float):
        self.dataset = _build(dataset)
        self.margin = float(margin)

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self.dataset.metainfo)

    def _frame(self, idx: int, center: np.ndarray, size: np.ndarray) -> dict:
        info = self.dataset.get_data_info(idx)
        info['bbox_center'] = center.reshape(1, 2).astype(np.float32)
        info['bbox_scale'] = size.reshape(1, 2).astype(np.float32)
        results = self.dataset.pipeline(info)
        if results is None:
            raise RuntimeError(f'{type(self).__name__}: the pipeline dropped sample {idx} '
                               f'({info["img_path"]})')
        return results


@DATASETS.register_module()
class VideoPoseDataset(_VideoWrapper):
    """Evaluation order for video pose: every track's frames consecutively, in temporal order,
    each cropped with the track's stable crop (:func:`~mmeff.pose.stable_crop_boxes`).

    Every sample's metainfo gets ``stream_key`` and ``frame_in_stream``; mmeff's
    ``VideoValLoop`` / ``VideoTestLoop`` start a new SkipConv stream where ``stream_key``
    changes. Sample with ``VideoSampler`` (whole tracks per process, in order).

    Args:
        dataset: a top-down mmpose dataset (config or object); its pipeline must start with
            ``LoadImage`` and ``GetBBoxCenterScale`` as mmpose's test pipelines do.
        margin: size of a new crop relative to the person's box (before the pipeline's padding).
        stable_crop: False crops every frame at its own box (the stock behaviour).
        min_iou: linking threshold of the tracker.
    """

    def __init__(self, dataset: Union[dict, BaseDataset], margin: float = 1.25,
                 stable_crop: bool = True, min_iou: float = 0.3):
        super().__init__(dataset, margin)
        self.stable_crop = stable_crop
        self.samples: List[Tuple[int, str, int]] = []  # (dataset index, stream key, position)
        crops = []
        for key, indices in indices_by_track(self.dataset, min_iou).items():
            boxes = np.concatenate([self.dataset.get_data_info(i)['bbox'] for i in indices])
            if stable_crop:
                centers, sizes = stable_crop_boxes(boxes, margin)
            else:  # every frame at its own box
                centers, sizes = (boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]
            self.samples += [(i, key, t) for t, i in enumerate(indices)]
            crops += list(zip(centers, sizes))
        self.crops = crops

    def __len__(self) -> int:
        return len(self.samples)

    def stream_keys(self) -> List[str]:
        """The stream key of every index (each stream's indices are consecutive)."""
        return [key for _, key, _ in self.samples]

    def __getitem__(self, idx: int) -> dict:
        index, key, position = self.samples[idx]
        results = self._frame(index, *self.crops[idx])
        results['data_samples'].set_metainfo(dict(stream_key=key, frame_in_stream=position))
        return results


@DATASETS.register_module()
class VideoClipDataset(_VideoWrapper):
    """Training clips of ``clip_len`` consecutive frames of one track, augmented alike.

    Every clip is cropped with one box (the union of its frames' person boxes, enlarged
    ``margin`` times), and the pipeline's random draws (numpy and Python ``random``) are
    replayed for every frame, so flips, scaling, rotation and shifts are the same across the
    clip and a static background stays static in it. An item is the list of the clip's
    samples; collate batches with ``clip_pseudo_collate``, which lays them out frame-major per
    clip, as ``mmeff.training_clip(clip_len)`` expects.

    Args:
        dataset: a top-down mmpose dataset (config or object) with its training pipeline.
        clip_len: frames per clip (T >= 2).
        clip_stride: step between the first frames of consecutive clips of a track.
        margin: crop size relative to the clip's union box (before the pipeline's padding).
        min_iou: linking threshold of the tracker.
    """

    def __init__(self, dataset: Union[dict, BaseDataset], clip_len: int = 4, clip_stride: int = 1,
                 margin: float = 1.0, min_iou: float = 0.3):
        if clip_len < 2 or clip_stride < 1:
            raise ValueError(f'VideoClipDataset: need clip_len >= 2 and clip_stride >= 1, got '
                             f'{clip_len}, {clip_stride}')
        super().__init__(dataset, margin)
        self.clip_len = clip_len
        self.clips: List[List[int]] = []
        for indices in indices_by_track(self.dataset, min_iou).values():
            for start in range(0, len(indices) - clip_len + 1, clip_stride):
                self.clips.append(indices[start:start + clip_len])
        if not self.clips:
            raise ValueError(f'VideoClipDataset: no track has {clip_len} frames')

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, idx: int) -> List[dict]:
        indices = self.clips[idx]
        boxes = np.concatenate([self.dataset.get_data_info(i)['bbox'] for i in indices])
        union = np.concatenate([boxes[:, :2].min(0), boxes[:, 2:].max(0)])
        center, size = (union[:2] + union[2:]) / 2, (union[2:] - union[:2]) * self.margin
        seed = int(np.random.randint(2**31 - 1))
        np_state, py_state = np.random.get_state(), random.getstate()
        frames = []
        try:
            for i in indices:
                np.random.seed(seed)
                random.seed(seed)
                frames.append(self._frame(i, center, size))
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)
        return frames


@FUNCTIONS.register_module()
def clip_pseudo_collate(clips: List[List[dict]]) -> dict:
    """Collate clips of samples frame-major per clip: (B clips x T frames) -> B*T samples."""
    lengths = {len(clip) for clip in clips}
    if len(lengths) != 1:
        raise ValueError(f'clip_pseudo_collate: clips of different lengths {sorted(lengths)}')
    return pseudo_collate([frame for clip in clips for frame in clip])
