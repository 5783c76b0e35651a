"""One frame through a streamed MoViNet block, as one op.

A streamed MoViNet-A0 frame is ~55 MFLOPs spread over 16 blocks of small layers; layer by layer
it costs about 20 ATen calls per block, and their fixed costs, not the arithmetic, set the
time. ``torch.ops.mmeff.movinet_block_frame`` computes a whole block (expand conv, (2+1)D
depthwise stage with the stream buffer, causal squeeze-excitation, project conv, shortcut,
ReZero residual) in a few parallel passes (see its C++ source).
:func:`movinet_block_frame_reference` (plain PyTorch) is its oracle and the path for autograd,
other devices and when the extension is absent.
"""
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .extension import KERNEL_DTYPES, check_stream_count, register_fake, select_kernel

ACTIVATIONS = {'identity': lambda x: x, 'relu': F.relu, 'hswish': F.hardswish}
GATES = {'hardsigmoid': F.hardsigmoid, 'sigmoid': torch.sigmoid}


class BlockFrameWeights(NamedTuple):
    """The weights of a block with BatchNorm folded in, 1x1 weights as matrices."""
    expand_weight: Tensor  # (E, C_in)
    expand_bias: Optional[Tensor]  # (E,)
    spatial_weight: Tensor  # (E, 1, kh, kw), depthwise
    spatial_bias: Optional[Tensor]
    stride: Tuple[int, int]
    padding: Tuple[int, int]
    temporal_weight: Optional[Tensor]  # (E, k_t) depthwise, or None: no temporal stage
    temporal_bias: Optional[Tensor]
    activation: str  # of the expand, spatial and temporal convs: 'identity', 'relu', 'hswish'
    reduce_weight: Tensor  # (H, 2E), the SE squeeze
    reduce_bias: Optional[Tensor]
    excite_weight: Tensor  # (E, H)
    excite_bias: Optional[Tensor]
    se_activation: str  # between the two SE layers
    gate: str  # 'hardsigmoid' or 'sigmoid'
    project_weight: Tensor  # (C_out, E)
    project_bias: Optional[Tensor]
    rezero: float  # scale of the residual branch
    shortcut_pool: bool  # the shortcut average-pools the input (3x3, stride 2)
    shortcut_weight: Optional[Tensor]  # (C_out, C_in): the shortcut's 1x1 conv, or identity
    shortcut_bias: Optional[Tensor]


def movinet_block_frame_reference(x: Tensor, weights: BlockFrameWeights, past: Sequence[Tensor],
                                  pooled_sum: Optional[Tensor],
                                  frames_seen: int) -> Tuple[Tensor, Optional[Tensor], Tensor]:
    """Plain PyTorch; see :func:`movinet_block_frame` (returns None for ``spatial`` when
    there is no temporal stage)."""
    w = weights
    act = ACTIVATIONS[w.activation]
    expanded = act(
        torch.einsum('ec,nchw->nehw', w.expand_weight, x) +
        (0 if w.expand_bias is None else w.expand_bias.view(1, -1, 1, 1)))
    spatial = act(
        F.conv2d(expanded, w.spatial_weight, w.spatial_bias, w.stride, w.padding, 1,
                 expanded.shape[1]))
    depthwise = spatial
    if w.temporal_weight is not None:
        frames = [frame.reshape(spatial.shape) for frame in past] + [spatial]
        depthwise = sum(w.temporal_weight[:, i].view(1, -1, 1, 1) * frame
                        for i, frame in enumerate(frames))
        if w.temporal_bias is not None:
            depthwise = depthwise + w.temporal_bias.view(1, -1, 1, 1)
        depthwise = act(depthwise)
    means = depthwise.mean(dim=(2, 3))
    total = means if pooled_sum is None else pooled_sum + means
    squeezed = torch.cat([total / (frames_seen + 1), means], dim=1)
    hidden = ACTIVATIONS[w.se_activation](F.linear(squeezed, w.reduce_weight, w.reduce_bias))
    gate = GATES[w.gate](F.linear(hidden, w.excite_weight, w.excite_bias))
    projected = torch.einsum('oe,nehw->nohw', w.project_weight, depthwise * gate[:, :, None, None])
    if w.project_bias is not None:
        projected = projected + w.project_bias.view(1, -1, 1, 1)
    shortcut = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False) if w.shortcut_pool else x
    if w.shortcut_weight is not None:
        shortcut = torch.einsum('oc,nchw->nohw', w.shortcut_weight, shortcut)
        if w.shortcut_bias is not None:
            shortcut = shortcut + w.shortcut_bias.view(1, -1, 1, 1)
    out = shortcut + w.rezero * projected
    return out, (spatial if w.temporal_weight is not None else None), total


def movinet_block_frame(x: Tensor, weights: BlockFrameWeights, past: Sequence[Tensor],
                        pooled_sum: Optional[Tensor],
                        frames_seen: int) -> Tuple[Tensor, Optional[Tensor], Tensor]:
    """One frame through a streamed MoViNet block (BatchNorm folded into ``weights``).

    Args:
        x: (N, C_in, H, W) frame features, float32 or float64.
        weights: the block's weights and activations.
        past: the k_t - 1 previous ``spatial`` outputs of the stream, oldest first, each
            (N, E, H', W') or (N, E, 1, H', W'); empty without a temporal stage.
        pooled_sum: (N, E) sum of the depthwise stage's spatial means over the stream's earlier
            frames (the SE's cumulative pooling), None for the first frame.
        frames_seen: how many frames that sum holds (0 with None).

    Returns:
        ``(out, spatial, pooled_sum)``: out (N, C_out, H', W') = shortcut + rezero * branch;
        spatial (N, E, H', W'), the input of the temporal stage (the stream buffer's new frame),
        or None without one; the pooled sum including this frame (N, E). The compiled kernel
        runs by the device policy (:func:`~mmeff.ops.extension.select_kernel`); otherwise the
        reference.
    """
    w = weights
    if w.activation not in ACTIVATIONS or w.se_activation not in ACTIVATIONS or \
            w.gate not in GATES:
        raise ValueError(f'movinet_block_frame: activations must be in {sorted(ACTIVATIONS)} '
                         f'and the gate in {sorted(GATES)}, got {w.activation!r}, '
                         f'{w.se_activation!r}, {w.gate!r}')
    check_stream_count('movinet_block_frame', pooled_sum, frames_seen)
    kernel = select_kernel('movinet_block_frame', x, (x, pooled_sum, *past, *w), supported=x.dtype
                           in KERNEL_DTYPES)
    if kernel is None:
        return movinet_block_frame_reference(x, w, past, pooled_sum, frames_seen)
    out, spatial, total = kernel(x, w.expand_weight, w.expand_bias, w.spatial_weight,
                                 w.spatial_bias, w.stride, w.padding, list(past), w.temporal_weight,
                                 w.temporal_bias, w.activation, pooled_sum, frames_seen,
                                 w.reduce_weight, w.reduce_bias, w.excite_weight, w.excite_bias,
                                 w.se_activation, w.gate, w.project_weight, w.project_bias,
                                 float(w.rezero), w.shortcut_pool, w.shortcut_weight,
                                 w.shortcut_bias)
    return out, (spatial if w.temporal_weight is not None else None), total


@register_fake('movinet_block_frame')
def _movinet_block_frame_fake(x, expand_weight, expand_bias, spatial_weight, spatial_bias, stride,
                              padding, past, temporal_weight, *args):
    """Meta kernel: the output shapes."""
    project_weight = args[-6]
    out_hw = [(size + 2 * p - k) // s + 1
              for size, k, s, p in zip(x.shape[2:], spatial_weight.shape[2:], stride, padding)]
    channels = expand_weight.shape[0]
    spatial = x.new_empty(x.shape[0], channels, *out_hw) if temporal_weight is not None \
        else x.new_empty(0)
    return (x.new_empty(x.shape[0], project_weight.shape[0],
                        *out_hw), spatial, x.new_empty(x.shape[0], channels))
