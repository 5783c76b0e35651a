"""Layers built on mmeff ops, registered in mmengine's root MODELS registry."""
from .avg_pool_interpolant import AvgPoolInterpolant
from .causal_se import CausalSqueezeExcitation
from .cond_conv2d import CondConv2d
from .cond_conv2d_adaptive_padding import CondConv2dAdaptivePadding, same_padding
from .cond_conv_router import CondConvRouter
from .conv_interpolant import ConvInterpolant
from .cumulative_avg_pool3d import CumulativeAvgPool3d
from .framewise_conv3d import FramewiseConv3d
from .interpolant import Interpolant
from .kgs_conv3d import KGSConv3d
from .nearest_sample_interpolant import NearestSampleInterpolant
from .output_sparse_conv2d import OutputSparseConv2d
from .rbf_interpolant import RBFInterpolant
from .sampling_mask_head import SamplingMaskHead, grid_prior, sample_heads
from .skip_conv2d import SkipConv2d
from .skip_gates import GumbelGate, InputNormGate, OutputNormGate, ValueGate
from .stream_buffer_conv3d import StreamBufferConv3d
from .stream_state import (StreamState, StreamStateful, UndoLog, atomic_frames, call_site,
                           reset_streams, stream, stream_transaction, training_clip)
from .zero_fill_interpolant import ZeroFillInterpolant

__all__ = [
    'OutputSparseConv2d', 'SkipConv2d', 'GumbelGate', 'InputNormGate', 'OutputNormGate',
    'ValueGate', 'StreamState', 'call_site', 'reset_streams', 'stream', 'training_clip',
    'CausalSqueezeExcitation', 'CumulativeAvgPool3d', 'FramewiseConv3d', 'StreamBufferConv3d',
    'StreamStateful', 'stream_transaction', 'atomic_frames', 'UndoLog', 'CondConv2d',
    'CondConv2dAdaptivePadding', 'same_padding', 'CondConvRouter', 'KGSConv3d', 'Interpolant',
    'RBFInterpolant', 'ConvInterpolant', 'AvgPoolInterpolant', 'ZeroFillInterpolant',
    'NearestSampleInterpolant', 'SamplingMaskHead', 'grid_prior', 'sample_heads'
]
