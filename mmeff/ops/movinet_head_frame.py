"""The classifier of a MoViNet stream model for one frame, as one op.

After every streamed frame the head pools the backbone's features into the running mean and
runs two linear layers whose weights (A0, 600 classes: 8.8 MB) come from memory each frame.
``torch.ops.mmeff.movinet_head_frame`` does it in one call with a bandwidth-bound
matrix-vector kernel (see its C++ source). :func:`movinet_head_frame_reference` (plain PyTorch)
is its oracle and the path for autograd, other devices and when the extension is absent.
"""
from typing import Optional, Tuple

import torch.nn.functional as F
from torch import Tensor

from .extension import KERNEL_DTYPES, check_stream_count, register_fake, select_kernel
from .movinet_block_frame import ACTIVATIONS


def movinet_head_frame_reference(x: Tensor, pooled_sum: Optional[Tensor], frames_seen: int,
                                 hidden_weight: Tensor, hidden_bias: Optional[Tensor],
                                 activation: str, fc_weight: Tensor,
                                 fc_bias: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
    """Plain PyTorch; see :func:`movinet_head_frame`."""
    if x.dim() == 4 and x.shape[2] * x.shape[3] == 0:  # the mean of no pixels is undefined
        raise ValueError(f'movinet_head_frame: x has no pixels: shape {tuple(x.shape)}')
    means = x.mean(dim=(2, 3))
    total = means if pooled_sum is None else pooled_sum + means
    hidden = ACTIVATIONS[activation](F.linear(total / (frames_seen + 1), hidden_weight,
                                              hidden_bias))
    return F.linear(hidden, fc_weight, fc_bias), total


def movinet_head_frame(x: Tensor, pooled_sum: Optional[Tensor], frames_seen: int,
                       hidden_weight: Tensor, hidden_bias: Optional[Tensor], activation: str,
                       fc_weight: Tensor, fc_bias: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
    """Class scores of one streamed frame from the running mean of the backbone's features.

    Args:
        x: (N, C, H, W) backbone features of the frame, float32 or float64.
        pooled_sum: (N, C) sum of the spatial means of the stream's earlier frames, None for
            the first frame; frames_seen: how many frames it holds (0 with None).
        hidden_weight, hidden_bias: (D, C), optional (D,); activation: 'identity', 'relu' or
            'hswish' after the hidden layer.
        fc_weight, fc_bias: (K, D), optional (K,).

    Returns:
        ``(logits, pooled_sum)``: (N, K) and the sum including this frame (N, C). The compiled
        kernel runs by the device policy (:func:`~mmeff.ops.extension.select_kernel`);
        otherwise the reference.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f'movinet_head_frame: activation must be one of {sorted(ACTIVATIONS)}, '
                         f'got {activation!r}')
    check_stream_count('movinet_head_frame', pooled_sum, frames_seen)
    args = (x, pooled_sum, frames_seen, hidden_weight, hidden_bias, activation, fc_weight, fc_bias)
    kernel = select_kernel('movinet_head_frame', x, args, supported=x.dtype in KERNEL_DTYPES)
    if kernel is None:
        return movinet_head_frame_reference(*args)
    return kernel(*args)


@register_fake('movinet_head_frame')
def _movinet_head_frame_fake(x, pooled_sum, frames_seen, hidden_weight, hidden_bias, activation,
                             fc_weight, fc_bias):
    """Meta kernel: the output shapes."""
    return x.new_empty(x.shape[0], fc_weight.shape[0]), x.new_empty(x.shape[:2])
