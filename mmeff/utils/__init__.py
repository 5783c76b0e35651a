"""Utilities: BatchNorm folding and conv MAC accounting of models built on ``mmeff.layers``,
the per-layer report of kernel-group pruned models,
and synthetic data for tests, demos and benchmarks."""
from .batchnorm import batchnorm_scale_shift, fold_batchnorm, fold_batchnorms
from .mac_counter import LayerMacs, MacCounter
from .mixture_macs import MixtureMacs, count_mixture_macs
from .pruning_report import LayerPruning, PruningReport, pruning_report
from .synthetic_actions import ACTIONS, synthetic_action_video, write_action_dataset
from .synthetic_detection import (CLASSES, SyntheticDetectionConfig, people_boxes,
                                  synthetic_detection_video, write_synthetic_detection,
                                  write_synthetic_people)
from .synthetic_video import JOINTS, LIMBS, SyntheticVideoConfig, synthetic_video

__all__ = [
    'batchnorm_scale_shift', 'fold_batchnorm', 'fold_batchnorms', 'LayerMacs', 'MacCounter',
    'MixtureMacs', 'count_mixture_macs', 'LayerPruning', 'PruningReport', 'pruning_report',
    'ACTIONS', 'synthetic_action_video', 'write_action_dataset', 'CLASSES',
    'SyntheticDetectionConfig', 'synthetic_detection_video', 'write_synthetic_detection',
    'people_boxes', 'write_synthetic_people', 'JOINTS', 'LIMBS', 'SyntheticVideoConfig',
    'synthetic_video'
]
