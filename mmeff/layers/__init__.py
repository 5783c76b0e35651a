"""Layers built on mmeff ops, registered in mmengine's root MODELS registry."""
from .output_sparse_conv2d import OutputSparseConv2d
from .skip_conv2d import SkipConv2d
from .skip_gates import GumbelGate, InputNormGate, OutputNormGate
from .stream_state import StreamState, call_site, reset_streams, stream, training_clip

__all__ = [
    'OutputSparseConv2d', 'SkipConv2d', 'GumbelGate', 'InputNormGate', 'OutputNormGate',
    'StreamState', 'call_site', 'reset_streams', 'stream', 'training_clip'
]
