"""Compiled ops (``torch.ops.mmeff``) with their pure-PyTorch references."""
from .commit_changed_windows import (block_input_windows, block_window_shape, blocks_to_positions,
                                     commit_changed_windows, commit_changed_windows_reference)
from .cond_conv2d import cond_conv2d, cond_conv2d_reference
from .delta_conv2d_frame import (delta_conv2d_frame, delta_conv2d_frame_logged,
                                 delta_conv2d_frame_logged_reference, delta_conv2d_frame_reference,
                                 fired_value_macs, pack_delta_conv2d_weight)
from .depthwise_conv2d import depthwise_conv2d, depthwise_conv2d_reference
from .extension import has_extension
from .frame_undo import FrameUndo
from .kgs_conv3d import (kgs_conv3d, kgs_conv3d_reference, pack_kgs_conv3d_weight,
                         unpack_kgs_conv3d_weight)
from .macs import conv_macs_per_position, dense_conv_macs, executed_conv_macs
from .movinet_block_frame import (BlockFrameWeights, movinet_block_frame,
                                  movinet_block_frame_reference)
from .movinet_head_frame import movinet_head_frame, movinet_head_frame_reference
from .skip_conv2d_frame import (skip_conv2d_frame, skip_conv2d_frame_logged,
                                skip_conv2d_frame_logged_reference, skip_conv2d_frame_reference)
from .sparse_conv2d import (DENSE_CROSSOVER_DENSITY, conv2d_output_size, sparse_conv2d,
                            sparse_conv2d_reference)
from .sparse_interp2d import MAX_INTERP_WINDOW, sparse_interp2d, sparse_interp2d_reference
from .stem_conv2d import STEM_MAX_IN_CHANNELS, stem_conv2d, stem_conv2d_reference

__all__ = [
    'has_extension', 'sparse_conv2d', 'sparse_conv2d_reference', 'conv2d_output_size',
    'DENSE_CROSSOVER_DENSITY', 'conv_macs_per_position', 'dense_conv_macs', 'executed_conv_macs',
    'block_input_windows', 'block_window_shape', 'blocks_to_positions', 'commit_changed_windows',
    'commit_changed_windows_reference', 'depthwise_conv2d', 'depthwise_conv2d_reference',
    'BlockFrameWeights', 'movinet_block_frame', 'movinet_block_frame_reference',
    'movinet_head_frame', 'movinet_head_frame_reference', 'STEM_MAX_IN_CHANNELS', 'stem_conv2d',
    'stem_conv2d_reference', 'skip_conv2d_frame', 'skip_conv2d_frame_reference',
    'delta_conv2d_frame', 'delta_conv2d_frame_reference', 'fired_value_macs',
    'pack_delta_conv2d_weight', 'cond_conv2d', 'cond_conv2d_reference', 'kgs_conv3d',
    'kgs_conv3d_reference', 'pack_kgs_conv3d_weight', 'unpack_kgs_conv3d_weight', 'sparse_interp2d',
    'sparse_interp2d_reference', 'MAX_INTERP_WINDOW', 'FrameUndo', 'skip_conv2d_frame_logged',
    'skip_conv2d_frame_logged_reference', 'delta_conv2d_frame_logged',
    'delta_conv2d_frame_logged_reference'
]
