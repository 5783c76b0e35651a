"""Engine pieces: checkpoint safety and atomic checkpoint writes, the SkipConv gate loss and
clip training, video loops, samplers, metrics and hooks (registered in mmengine's root LOOPS /
DATA_SAMPLERS / METRICS / HOOKS), the RT3D pruning hook and optim wrapper (OPTIM_WRAPPERS),
peak memory, and multi-process runs without a GPU."""
from .atomic_checkpoint import AtomicLocalBackend, atomic_write, enable_atomic_checkpoints
from .checkpoint import allow_mmengine_checkpoint_globals, mmengine_checkpoint_globals
from .clip_training import ClipTrainingMixin
from .cpu_distributed import enable_cpu_distributed
from .frame_macs_metric import FrameMacsMetric
from .gate_loss import skipconv_gate_loss
from .gumbel_temperature_hook import GumbelTemperatureHook
from .kernel_group_pruning import (GroupLassoOptimWrapper, KernelGroupPruningHook,
                                   group_lasso_penalty, ratio_for_flop_reduction, reweighted_alphas)
from .norm_gate_calibration_hook import NormGateCalibrationHook
from .ordered_evaluation import DatasetOrderEvaluator
from .peak_memory import PeakMemory, live_heap_bytes
from .routing_temperature_hook import RoutingTemperatureHook, linear_temperature
from .sampling_temperature_hook import SamplingTemperatureHook
from .temperature_hook import TemperatureHook, annealed_temperature
from .video_loops import VideoStreams, VideoTestLoop, VideoValLoop, run_video_frames, split_frames
from .video_samplers import VideoClipSampler, VideoSampler

__all__ = [
    'AtomicLocalBackend', 'atomic_write', 'enable_atomic_checkpoints',
    'allow_mmengine_checkpoint_globals', 'mmengine_checkpoint_globals', 'ClipTrainingMixin',
    'FrameMacsMetric', 'GumbelTemperatureHook', 'annealed_temperature', 'NormGateCalibrationHook',
    'skipconv_gate_loss', 'PeakMemory', 'live_heap_bytes', 'VideoClipSampler', 'VideoSampler',
    'VideoStreams', 'VideoTestLoop', 'VideoValLoop', 'run_video_frames', 'split_frames',
    'RoutingTemperatureHook', 'linear_temperature', 'GroupLassoOptimWrapper',
    'KernelGroupPruningHook', 'group_lasso_penalty', 'ratio_for_flop_reduction',
    'reweighted_alphas', 'SamplingTemperatureHook', 'enable_cpu_distributed', 'TemperatureHook',
    'DatasetOrderEvaluator'
]
