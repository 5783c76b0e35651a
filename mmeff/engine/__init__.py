"""Engine pieces: checkpoint safety, MAC accounting, the SkipConv gate loss, peak memory."""
from .checkpoint import allow_mmengine_checkpoint_globals, mmengine_checkpoint_globals
from .gate_loss import skipconv_gate_loss
from .mac_counter import LayerMacs, MacCounter
from .peak_memory import PeakMemory, live_heap_bytes

__all__ = [
    'allow_mmengine_checkpoint_globals', 'mmengine_checkpoint_globals', 'LayerMacs', 'MacCounter',
    'skipconv_gate_loss', 'PeakMemory', 'live_heap_bytes'
]
