"""VideoSampler deals whole streams to processes, frames in order; VideoClipSampler deals
whole clips of consecutive frames."""
from types import SimpleNamespace

import pytest

import mmeff.engine.video_samplers as video_samplers
from mmeff.engine import VideoClipSampler, VideoSampler

DATASET = SimpleNamespace(stream_keys=lambda: ['a', 'a', 'b', 'b', 'b', 'c'])


def test_one_process_gets_everything_in_order():
    sampler = VideoSampler(DATASET, seed=0)
    assert list(sampler) == [0, 1, 2, 3, 4, 5] and len(sampler) == 6


def test_streams_are_not_split_across_processes(monkeypatch):
    monkeypatch.setattr(video_samplers, 'get_dist_info', lambda: (0, 2))
    assert list(VideoSampler(DATASET)) == [0, 1, 5]
    monkeypatch.setattr(video_samplers, 'get_dist_info', lambda: (1, 2))
    assert list(VideoSampler(DATASET)) == [2, 3, 4]


def test_streams_of_items_with_a_stream_key(monkeypatch):
    items = FramesOf(['a', 'a', 'b', 'b', 'c'])
    monkeypatch.setattr(video_samplers, 'get_dist_info', lambda: (1, 2))
    assert list(VideoSampler(items)) == [2, 3]
    with pytest.raises(KeyError, match='item 0 has no stream_key'):
        VideoSampler(FramesDataset([2]))


class FramesOf:
    """Items tagged with the given stream keys."""

    def __init__(self, keys):
        self.keys = keys

    def __len__(self):
        return len(self.keys)

    def get_data_info(self, index):
        return dict(stream_key=self.keys[index])


class FramesDataset:
    """Items of videos 0, 1, ... with the given lengths, stored in reverse frame order."""

    def __init__(self, video_lengths, keys=('video_id', 'frame_id')):
        self.infos = [
            dict(zip(keys, (v, f))) for v, n in enumerate(video_lengths) for f in reversed(range(n))
        ]

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, index):
        return self.infos[index]


def test_clip_sampler_deals_whole_clips_to_processes(monkeypatch):
    data = FramesDataset([4, 3])  # clips of 2: two of video 0, one of video 1
    monkeypatch.setattr(video_samplers, 'get_dist_info', lambda: (0, 1))
    every = VideoClipSampler(data, clip_len=2, shuffle=False, seed=0)
    assert every.clips == [[3, 2], [1, 0], [6, 5]]  # frame order, not storage order
    assert list(every) == [3, 2, 1, 0, 6, 5] and len(every) == 6
    dealt = []
    for rank in (0, 1):
        monkeypatch.setattr(video_samplers, 'get_dist_info', lambda rank=rank: (rank, 2))
        sampler = VideoClipSampler(data, clip_len=2, seed=3)
        clips = [tuple(sampler)[i:i + 2] for i in range(0, len(sampler), 2)]
        assert all(clip in map(tuple, every.clips) for clip in clips)
        dealt += clips
    assert sorted(dealt) == sorted(map(tuple, every.clips))  # each clip to one process


def test_clip_sampler_checks_its_arguments():
    with pytest.raises(ValueError, match='clip_len must be >= 1'):
        VideoClipSampler(FramesDataset([4]), clip_len=0, seed=0)
    with pytest.raises(KeyError, match='video_id and frame_id'):
        VideoClipSampler(FramesDataset([2], keys=('video_id', )), clip_len=1, seed=0)
