"""The video pose pipeline of ``tools/video_demo.py`` as a library: detect, track and estimate
every person of a video, dense and SkipConv side by side, and report what it cost.

Not imported by ``import mmeff``: it needs mmdet and mmpose.
"""
from .video_pose_models import (ComparedModel, Detector, build_pose_models, input_aspect_ratio,
                                load_compared, load_or_fallback, pose_test_pipeline,
                                with_skipconv_copy)
from .video_pose_pipeline import (FrameStats, RecomputeMap, Settings, TrackLog, pose_batch,
                                  run_video_pose)
from .video_pose_report import format_table, summarize, verdict, write_outputs
from .video_source import Video, read_video, synthetic_clip, true_figure

__all__ = [
    'ComparedModel', 'Detector', 'build_pose_models', 'input_aspect_ratio', 'load_compared',
    'load_or_fallback', 'pose_test_pipeline', 'with_skipconv_copy', 'FrameStats', 'RecomputeMap',
    'Settings', 'TrackLog', 'pose_batch', 'run_video_pose', 'format_table', 'summarize', 'verdict',
    'write_outputs', 'Video', 'read_video', 'synthetic_clip', 'true_figure'
]
