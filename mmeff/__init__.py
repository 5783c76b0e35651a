"""mmeff: efficient video perception for OpenMMLab.

``import mmeff`` (or ``custom_imports=dict(imports=['mmeff'])`` in an mm config) registers
mmeff's layers in mmengine's root registry, allow-lists the classes mmengine puts in
checkpoints for torch's ``weights_only`` loading, makes mmengine's checkpoint writes atomic
(``mmeff.engine.atomic_checkpoint``), and, where no GPU is visible, lets
mmengine's launcher run several processes on the CPU (``mmeff.engine.cpu_distributed``).
It does not import mmdet, mmpose or mmaction2: mmeff's parts for those register when the
toolbox loads (see ``mmeff.registry``).
"""
from . import converters, layers, ops, utils
from .converters import convert_to_kgs, convert_to_skipconv
from .engine.atomic_checkpoint import enable_atomic_checkpoints
from .engine.checkpoint import allow_mmengine_checkpoint_globals
from .engine.cpu_distributed import enable_cpu_distributed
from .layers import CondConv2d, SkipConv2d, StreamState, reset_streams, stream, training_clip
from .registry import register_toolbox_parts
from .version import __version__

allow_mmengine_checkpoint_globals()
enable_atomic_checkpoints()
enable_cpu_distributed()
register_toolbox_parts()

__all__ = [
    '__version__', 'converters', 'layers', 'ops', 'utils', 'allow_mmengine_checkpoint_globals',
    'convert_to_skipconv', 'convert_to_kgs', 'CondConv2d', 'SkipConv2d', 'StreamState',
    'reset_streams', 'stream', 'training_clip'
]
