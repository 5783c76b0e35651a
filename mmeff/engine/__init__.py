"""Engine pieces: checkpoint safety and MAC accounting (hooks and losses come with training)."""
from .checkpoint import allow_mmengine_checkpoint_globals, mmengine_checkpoint_globals
from .mac_counter import LayerMacs, MacCounter

__all__ = [
    'allow_mmengine_checkpoint_globals', 'mmengine_checkpoint_globals', 'LayerMacs', 'MacCounter'
]
