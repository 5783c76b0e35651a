"""Engine pieces: checkpoint safety, MAC accounting, the SkipConv gate loss, video loops,
samplers, metrics and hooks (registered in mmengine's root LOOPS / DATA_SAMPLERS / METRICS /
HOOKS), peak memory."""
from .checkpoint import allow_mmengine_checkpoint_globals, mmengine_checkpoint_globals
from .conv_macs import ConvMacMeter
from .frame_macs_metric import FrameMacsMetric
from .gate_loss import skipconv_gate_loss
from .gumbel_temperature_hook import GumbelTemperatureHook, annealed_temperature
from .mac_counter import LayerMacs, MacCounter
from .norm_gate_calibration_hook import NormGateCalibrationHook
from .peak_memory import PeakMemory, live_heap_bytes
from .video_clip_sampler import VideoClipSampler
from .video_loops import VideoStreams, VideoTestLoop, VideoValLoop, run_video_frames, split_frames

__all__ = [
    'allow_mmengine_checkpoint_globals', 'mmengine_checkpoint_globals', 'ConvMacMeter',
    'FrameMacsMetric', 'GumbelTemperatureHook', 'annealed_temperature', 'LayerMacs', 'MacCounter',
    'NormGateCalibrationHook', 'skipconv_gate_loss', 'PeakMemory', 'live_heap_bytes',
    'VideoClipSampler', 'VideoStreams', 'VideoTestLoop', 'VideoValLoop', 'run_video_frames',
    'split_frames'
]
