"""Utilities: synthetic data for tests, demos and benchmarks."""
from .synthetic_video import JOINTS, LIMBS, SyntheticVideoConfig, synthetic_video

__all__ = ['JOINTS', 'LIMBS', 'SyntheticVideoConfig', 'synthetic_video']
