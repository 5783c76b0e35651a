"""Utilities: synthetic data for tests, demos and benchmarks."""
from .synthetic_actions import ACTIONS, synthetic_action_video, write_action_dataset
from .synthetic_detection import (CLASSES, SyntheticDetectionConfig, synthetic_detection_video,
                                  write_synthetic_detection)
from .synthetic_video import JOINTS, LIMBS, SyntheticVideoConfig, synthetic_video

__all__ = [
    'ACTIONS', 'synthetic_action_video', 'write_action_dataset', 'CLASSES',
    'SyntheticDetectionConfig', 'synthetic_detection_video', 'write_synthetic_detection',
    'JOINTS', 'LIMBS', 'SyntheticVideoConfig', 'synthetic_video'
]
