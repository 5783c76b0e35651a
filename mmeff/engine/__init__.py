"""Engine pieces: checkpoint safety (hooks, losses and metrics come with later features)."""
from .checkpoint import allow_mmengine_checkpoint_globals, mmengine_checkpoint_globals

__all__ = ['allow_mmengine_checkpoint_globals', 'mmengine_checkpoint_globals']
