"""Utilities: synthetic data for tests, demos and benchmarks."""
from .synthetic_actions import ACTIONS, synthetic_action_video, write_action_dataset
from .synthetic_video import JOINTS, LIMBS, SyntheticVideoConfig, synthetic_video

__all__ = [
    'ACTIONS', 'JOINTS', 'LIMBS', 'SyntheticVideoConfig', 'synthetic_action_video',
    'synthetic_video', 'write_action_dataset'
]
