"""``VideoClipSampler``: training batches made of clips of consecutive video frames."""
from typing import Dict, Iterator, List, Optional

import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.registry import DATA_SAMPLERS
from torch.utils.data import Sampler


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

    With a plain batch sampler (``batch_sampler=None``) and ``batch_size = B * clip_length``,
    every batch holds B whole clips, frame-major per clip, the layout of
    ``mmeff.training_clip``. The dataset's items need ``video_id`` and ``frame_id``
    (``CocoVideoFrameDataset``). Frames of videos shorter than a clip are never sampled.

    Args:
        dataset: the dataset.
        clip_length: frames per clip.
        stride: frames between the starts of consecutive clips of a video (default: clip_length).
        shuffle: shuffle the clips every epoch.
        seed: shuffling seed (synchronised across ranks when None).
    """

    def __init__(self, dataset, clip_length: int, stride: Optional[int] = None,
                 shuffle: bool = True, seed: Optional[int] = None):
        if clip_length < 1:
            raise ValueError(f'VideoClipSampler: clip_length must be >= 1, got {clip_length}')
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
        self.clips = video_clips(frames, clip_length, stride or clip_length)
        if not self.clips:
            raise ValueError(f'VideoClipSampler: no video has {clip_length} frames')
        self.clip_length = clip_length

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
        return len(self._rank_clips()) * self.clip_length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
