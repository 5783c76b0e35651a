"""Layers built on mmeff ops, registered in mmengine's root MODELS registry."""
from .causal_se import CausalSqueezeExcitation
from .cond_conv2d import CondConv2d
from .cond_conv_router import CondConvRouter
from .cumulative_avg_pool3d import CumulativeAvgPool3d
from .framewise_conv3d import FramewiseConv3d
from .kgs_conv3d import KGSConv3d
from .output_sparse_conv2d import OutputSparseConv2d
from .skip_conv2d import SkipConv2d
from .skip_gates import GumbelGate, InputNormGate, OutputNormGate, ValueGate
from .stream_buffer_conv3d import StreamBufferConv3d
from .stream_state import (StreamState, StreamStateful, call_site, reset_streams, stream,
                           stream_transaction, training_clip)

__all__ = [
    'OutputSparseConv2d', 'SkipConv2d', 'GumbelGate', 'InputNormGate', 'OutputNormGate',
    'ValueGate', 'StreamState', 'call_site', 'reset_streams', 'stream', 'training_clip',
    'CausalSqueezeExcitation', 'CumulativeAvgPool3d', 'FramewiseConv3d', 'StreamBufferConv3d',
    'StreamStateful', 'stream_transaction', 'CondConv2d', 'CondConvRouter', 'KGSConv3d'
]
