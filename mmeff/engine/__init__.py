"""Engine pieces: checkpoint safety, MAC accounting, the SkipConv gate loss, video loops."""
from .checkpoint import allow_mmengine_checkpoint_globals, mmengine_checkpoint_globals
from .gate_loss import skipconv_gate_loss
from .mac_counter import LayerMacs, MacCounter
from .skipconv_mac_metric import SkipConvMacMetric
from .video_clip_sampler import VideoClipSampler
from .video_loops import VideoTestLoop, VideoValLoop

__all__ = [
    'allow_mmengine_checkpoint_globals', 'mmengine_checkpoint_globals', 'LayerMacs', 'MacCounter',
    'skipconv_gate_loss', 'SkipConvMacMetric', 'VideoClipSampler', 'VideoTestLoop',
    'VideoValLoop'
]
