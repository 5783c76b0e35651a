"""Utilities: BatchNorm folding and conv MAC accounting of models built on ``mmeff.layers``,
and synthetic data for tests, demos and benchmarks."""
from .batchnorm import batchnorm_scale_shift, fold_batchnorm, fold_batchnorms
from .mac_counter import LayerMacs, MacCounter
from .mixture_macs import MixtureMacs, count_mixture_macs
from .synthetic_actions import ACTIONS, synthetic_action_video, write_action_dataset
from .synthetic_detection import (CLASSES, SyntheticDetectionConfig, synthetic_detection_video,
                                  write_synthetic_detection)
from .synthetic_video import JOINTS, LIMBS, SyntheticVideoConfig, synthetic_video

__all__ = [
    'batchnorm_scale_shift', 'fold_batchnorm', 'fold_batchnorms', 'LayerMacs', 'MacCounter',
    'MixtureMacs', 'count_mixture_macs', 'ACTIONS', 'synthetic_action_video',
    'write_action_dataset', 'CLASSES', 'SyntheticDetectionConfig', 'synthetic_detection_video',
    'write_synthetic_detection', 'JOINTS', 'LIMBS', 'SyntheticVideoConfig', 'synthetic_video'
]
