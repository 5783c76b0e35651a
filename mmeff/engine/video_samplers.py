"""Samplers over videos (mmengine ``DATA_SAMPLERS``): whole streams in temporal order for
evaluation (:class:`VideoSampler`), and shuffled clips of consecutive frames for training
(:class:`VideoClipSampler`). Both deal their units (streams, clips) round-robin to the
processes, so no stream or clip is split across processes."""
from typing import Dict, Iterator, List, Optional

import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.registry import DATA_SAMPLERS
from torch.utils.data import Sampler


def stream_keys(dataset) -> List[str]:
    """The stream key of every index: ``dataset.stream_keys()``, or each item's
    ``stream_key``."""
    if hasattr(dataset, 'stream_keys'):
        return dataset.stream_keys()
    keys = []
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        if 'stream_key' not in info:
            raise KeyError(f'VideoSampler: item {index} has no stream_key; the dataset needs '
                           'stream_keys() (VideoPoseDataset) or a stream_key per item '
                           '(CocoVideoFrameDataset)')
        keys.append(info['stream_key'])
    return keys


@DATA_SAMPLERS.register_module()
class VideoSampler(Sampler):
    """Deals whole streams (tracks) of a ``VideoPoseDataset`` to the processes, round-robin by
    stream, each stream's frames in temporal order; one process gets everything.

    mmengine's ``DefaultSampler`` deals single samples round-robin, which splits every track
    across processes and breaks the frame order the SkipConv streams rely on.

    Args:
        dataset: a ``VideoPoseDataset`` (anything with ``stream_keys()``, one key per index),
            or a dataset whose items carry ``stream_key`` (``CocoVideoFrameDataset``); each
            stream's indices consecutive.
        seed: unused (evaluation order is fixed); accepted because the runner passes it.
    """

    def __init__(self, dataset, seed: Optional[int] = None):
        rank, world_size = get_dist_info()
        keys = stream_keys(dataset)
        streams: List[List[int]] = []
        for idx, key in enumerate(keys):
            if not streams or keys[streams[-1][0]] != key:
                streams.append([])
            streams[-1].append(idx)
        self.indices = [i for s in streams[rank::world_size] for i in s]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        """Nothing to reshuffle: evaluation order is fixed."""


def video_clips(frames: Dict[object, List[tuple]], length: int, stride: int) -> List[List[int]]:
    """Windows of ``length`` consecutive frames, every ``stride`` frames, of each video.

    Args:
        frames: video id -> [(frame_id, dataset index), ...].
    """
    clips = []
    for video in sorted(frames, key=str):
        indices = [index for _, index in sorted(frames[video])]
        clips += [indices[s:s + length] for s in range(0, len(indices) - length + 1, stride)]
    return clips


@DATA_SAMPLERS.register_module()
class VideoClipSampler(Sampler):
    """Yields the dataset indices of shuffled clips, each clip's frames consecutive and in order.

    With a plain batch sampler (``batch_sampler=None``) and ``batch_size = B * clip_len``,
    every batch holds B whole clips, frame-major per clip, the layout of
    ``mmeff.training_clip``. The dataset's items need ``video_id`` and ``frame_id``
    (``CocoVideoFrameDataset``). Frames of videos shorter than a clip are never sampled.

    Args:
        dataset: the dataset.
        clip_len: frames per clip.
        stride: frames between the starts of consecutive clips of a video (default: clip_len).
        shuffle: shuffle the clips every epoch.
        seed: shuffling seed (synchronised across ranks when None).
    """

    def __init__(self, dataset, clip_len: int, stride: Optional[int] = None, shuffle: bool = True,
                 seed: Optional[int] = None):
        if clip_len < 1:
            raise ValueError(f'VideoClipSampler: clip_len must be >= 1, got {clip_len}')
        self.rank, self.world_size = get_dist_info()
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        frames: Dict[object, List[tuple]] = {}
        for index in range(len(dataset)):
            info = dataset.get_data_info(index)
            if 'video_id' not in info or 'frame_id' not in info:
                raise KeyError('VideoClipSampler: dataset items need video_id and frame_id '
                               '(use CocoVideoFrameDataset on COCO-video annotations)')
            frames.setdefault(info['video_id'], []).append((info['frame_id'], index))
        self.clips = video_clips(frames, clip_len, stride or clip_len)
        if not self.clips:
            raise ValueError(f'VideoClipSampler: no video has {clip_len} frames')
        self.clip_len = clip_len

    def _rank_clips(self) -> List[List[int]]:
        order = list(range(len(self.clips)))
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(len(self.clips), generator=g).tolist()
        return [self.clips[i] for i in order[self.rank::self.world_size]]

    def __iter__(self) -> Iterator[int]:
        for clip in self._rank_clips():
            yield from clip

    def __len__(self) -> int:
        return len(self._rank_clips()) * self.clip_len

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
