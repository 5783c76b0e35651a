"""CondConv: a 2-D convolution whose kernel is a per-sample mix of expert kernels.

``y[b] = conv2d(x[b], Σ_e routing[b, e]·weight[e]) + Σ_e routing[b, e]·bias[e]``
(Yang et al., "CondConv", NeurIPS 2019). ``torch.ops.mmeff.cond_conv2d`` mixes the B kernels
in one pass over the expert weights, then convolves with ATen's conv, per sample or as one
grouped conv over the batch, or multiplies pointwise convs as one batched GEMM (see its C++
source). ``cond_conv2d_reference`` folds the batch
into the conv's groups; it is the oracle and the path for autograd (training), other devices
and when the extension is absent.
"""
from typing import Optional, Tuple, Union

import torch.nn.functional as F
from torch import Tensor

from .extension import KERNEL_DTYPES, conv_geometry, register_fake, select_kernel
from .sparse_conv2d import conv2d_output_size

IntPair = Union[int, Tuple[int, int]]

#: How the compiled kernel convolves once the kernels are mixed: ``'auto'`` (its measured
#: choice), ``'per_sample'`` (one conv per sample), ``'grouped'`` (one grouped conv over the
#: batch folded into the channels) or ``'matmul'`` (pointwise convs only: 1x1 kernel, stride 1,
#: no padding, groups 1; one batched matrix product).
STRATEGIES = ('auto', 'per_sample', 'grouped', 'matmul')


def check_cond_conv2d_args(x: Tensor, weight: Tensor, bias: Optional[Tensor], routing: Tensor,
                           groups: int) -> None:
    """Raise ``ValueError`` naming the argument unless the shapes fit together:
    x (B, C_in, H, W), weight (E, C_out, C_in/groups, kh, kw) with E >= 1, bias (E, C_out)
    or None, routing (B, E), groups >= 1 dividing C_in and C_out."""
    if x.dim() != 4:
        raise ValueError(f'cond_conv2d: x must be (B, C_in, H, W), got shape {tuple(x.shape)}')
    if weight.dim() != 5:
        raise ValueError('cond_conv2d: weight must be (E, C_out, C_in/groups, kh, kw), got '
                         f'shape {tuple(weight.shape)}')
    experts, out_channels = weight.shape[:2]
    if experts < 1:
        raise ValueError(f'cond_conv2d: weight needs E >= 1 experts, got shape '
                         f'{tuple(weight.shape)}')
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f'cond_conv2d: groups must be an int >= 1, got {groups!r}')
    if x.shape[1] % groups or out_channels % groups or weight.shape[2] * groups != x.shape[1]:
        raise ValueError(f'cond_conv2d: weight of shape {tuple(weight.shape)} with groups='
                         f'{groups} does not fit x with {x.shape[1]} channels')
    if tuple(routing.shape) != (x.shape[0], experts):
        raise ValueError(f'cond_conv2d: routing must have shape (B, E) = ({x.shape[0]}, '
                         f'{experts}), got {tuple(routing.shape)}')
    if bias is not None and tuple(bias.shape) != (experts, out_channels):
        raise ValueError(f'cond_conv2d: bias must have shape (E, C_out) = ({experts}, '
                         f'{out_channels}), got {tuple(bias.shape)}')


def cond_conv2d_reference(x: Tensor, weight: Tensor, bias: Optional[Tensor], routing: Tensor, *,
                          stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1,
                          groups: int = 1) -> Tensor:
    """The batch folded into the groups: one conv of (1, B·C_in, H, W) with the B mixed
    kernels stacked to (B·C_out, C_in/groups, kh, kw) and ``groups·B`` groups."""
    batch, in_channels, height, width = x.shape
    experts, out_channels = weight.shape[:2]
    mixed = (routing @ weight.reshape(experts, -1)).reshape(batch * out_channels, *weight.shape[2:])
    mixed_bias = None if bias is None else (routing @ bias).reshape(-1)
    if batch == 0:  # no groups to fold: convolve one dummy sample for the output size
        y = F.conv2d(x.new_zeros(1, in_channels, height, width), weight[0], None, stride, padding,
                     dilation, groups)
        return y[:0]
    y = F.conv2d(x.reshape(1, batch * in_channels, height, width), mixed, mixed_bias, stride,
                 padding, dilation, groups * batch)
    return y.reshape(batch, out_channels, *y.shape[2:])


def cond_conv2d(x: Tensor, weight: Tensor, bias: Optional[Tensor], routing: Tensor, *,
                stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1,
                strategy: str = 'auto') -> Tensor:
    """CondConv: each sample convolves with its routing's mix of the expert kernels.

    Args:
        x: (B, C_in, H, W), float32 or float64.
        weight: (E, C_out, C_in/groups, kh, kw), the E expert kernels. A timm / ``CondConv2d``
            layer's flat (E, C_out·C_in/groups·kh·kw) parameter is this tensor's
            ``flatten(1)``: pass ``weight.view(E, C_out, C_in // groups, kh, kw)``.
        bias: (E, C_out), the experts' biases, or None.
        routing: (B, E), each sample's expert weights (any values: sigmoid gates need not
            sum to 1).
        stride, padding, dilation, groups: as in ``torch.nn.functional.conv2d``.
        strategy: one of :data:`STRATEGIES`; only the compiled kernel reads it (the result
            is the same up to rounding).

    Returns:
        (B, C_out, H_out, W_out). The compiled kernel runs by the device policy
        (:func:`~mmeff.ops.extension.select_kernel`); otherwise the reference.
    """
    check_cond_conv2d_args(x, weight, bias, routing, groups)
    if strategy not in STRATEGIES:
        raise ValueError(f'cond_conv2d: strategy must be one of {STRATEGIES}, got {strategy!r}')
    stride, padding, dilation = conv_geometry('cond_conv2d', stride, padding, dilation)
    return cond_conv2d_checked_geometry(x, weight, bias, routing, stride, padding, dilation, groups,
                                        strategy)


def cond_conv2d_checked_geometry(x: Tensor, weight: Tensor, bias: Optional[Tensor], routing: Tensor,
                                 stride: Tuple[int, int], padding: Tuple[int,
                                                                         int], dilation: Tuple[int,
                                                                                               int],
                                 groups: int, strategy: str = 'auto') -> Tensor:
    """:func:`cond_conv2d` for a caller that has validated the geometry once (int pairs,
    stride and dilation >= 1, padding >= 0) and the strategy, such as a layer: per call it
    only picks the kernel. The compiled op checks the tensors itself (``RuntimeError``); the
    reference path checks them here (``ValueError``)."""
    kernel = select_kernel('cond_conv2d', x, (x, weight, bias, routing), supported=x.dtype
                           in KERNEL_DTYPES)
    if kernel is None:
        check_cond_conv2d_args(x, weight, bias, routing, groups)
        return cond_conv2d_reference(x, weight, bias, routing, stride=stride, padding=padding,
                                     dilation=dilation, groups=groups)
    return kernel(x, weight, bias, routing, stride, padding, dilation, groups, strategy)


@register_fake('cond_conv2d')
def _cond_conv2d_fake(x, weight, bias, routing, stride, padding, dilation, groups, strategy):
    """Meta kernel: the output shape."""
    out_hw = conv2d_output_size(x.shape[2:], weight.shape[3:], stride, padding, dilation)
    return x.new_empty(x.shape[0], weight.shape[1], *out_hw)
