"""VideoSampler deals whole streams to processes, frames in order."""
from types import SimpleNamespace

import mmeff.pose.video_sampler as video_sampler
from mmeff.pose import VideoSampler

DATASET = SimpleNamespace(stream_keys=lambda: ['a', 'a', 'b', 'b', 'b', 'c'])


def test_one_process_gets_everything_in_order():
    sampler = VideoSampler(DATASET, seed=0)
    assert list(sampler) == [0, 1, 2, 3, 4, 5] and len(sampler) == 6


def test_streams_are_not_split_across_processes(monkeypatch):
    monkeypatch.setattr(video_sampler, 'get_dist_info', lambda: (0, 2))
    assert list(VideoSampler(DATASET)) == [0, 1, 5]
    monkeypatch.setattr(video_sampler, 'get_dist_info', lambda: (1, 2))
    assert list(VideoSampler(DATASET)) == [2, 3, 4]
