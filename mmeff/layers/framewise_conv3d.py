"""``FramewiseConv3d``: a Conv3d with a 1 x kh x kw kernel, computed as a 2D conv per frame.

Same arguments, weights and result as ``nn.Conv3d``; faster on CPU, where PyTorch runs small and
grouped 3D convolutions through its slow reference kernel while 2D ones go to oneDNN. Pointwise
(1 x 1 x 1) kernels are one GEMM, ``W (C_out, C_in) @ x (C_in, T*H*W)`` per clip, without any
copy: on MoViNet's mid-sized maps PyTorch's conv dispatch takes 3.5-5.7x the GEMM's time
(e.g. 16->40 channels at 43x43: 201 vs 35 us, 2 threads), and about the same on the others.
Depthwise kernels on a single frame (streaming) run :func:`mmeff.ops.depthwise_conv2d`: on
MoViNet-A0's at 172 px it takes 2.0-5.8x less time than oneDNN (2 threads); from two frames on
oneDNN is faster on some layers (on 16 frames on most), and runs.
"""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..ops import depthwise_conv2d
from ..registry import MODELS


@MODELS.register_module()
class FramewiseConv3d(nn.Conv3d):
    """``nn.Conv3d`` restricted to temporal kernel, stride, dilation 1 and temporal padding 0.

    Shapes: (N, C_in, T, H, W) -> (N, C_out, T, H_out, W_out).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if (self.kernel_size[0], self.stride[0], self.dilation[0]) != (1, 1, 1) or \
                isinstance(self.padding, str) or self.padding[0] != 0 or \
                self.padding_mode != 'zeros':
            raise ValueError('FramewiseConv3d needs a temporal kernel, stride and dilation of 1 '
                             f'and no temporal padding, got kernel_size={self.kernel_size}, '
                             f'stride={self.stride}, dilation={self.dilation}, '
                             f'padding={self.padding}, padding_mode={self.padding_mode!r}')
        self.pointwise = self.kernel_size == (1, 1, 1) and self.stride == (1, 1, 1)
        self.depthwise = self.groups == self.in_channels == self.out_channels

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5:
            raise ValueError(f'FramewiseConv3d: expected (N, C, T, H, W), got {tuple(x.shape)}')
        n, c, t, h, w = x.shape
        if self.pointwise and self.groups == 1:
            return self._pointwise_gemm(x).view(n, -1, t, h, w)
        weight = self.weight.squeeze(2)
        if n * t == 1 and self.depthwise:  # one frame: oneDNN's per-call cost dominates
            out = depthwise_conv2d(x.view(1, c, h, w), weight, self.bias, stride=self.stride[1:],
                                   padding=self.padding[1:], dilation=self.dilation[1:])
            return out.unsqueeze(2)
        if self.pointwise:
            out = F.conv2d(x.reshape(n, c, t * h, w), weight, self.bias, groups=self.groups)
            return out.view(n, -1, t, h, w)
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)
        out = F.conv2d(frames, weight, self.bias, self.stride[1:], self.padding[1:],
                       self.dilation[1:], self.groups)
        return out.view(n, t, *out.shape[1:]).transpose(1, 2)

    def _pointwise_gemm(self, x: Tensor) -> Tensor:
        """(N, C_in, T, H, W) -> (N, C_out, T*H*W) for 1x1x1 kernels with one group."""
        n, c = x.shape[:2]
        weight = self.weight.view(self.out_channels, c)
        columns = x.reshape(n, c, -1)
        if n == 1 and self.bias is not None:
            return torch.addmm(self.bias[:, None], weight, columns[0])[None]
        out = torch.matmul(weight, columns)
        return out if self.bias is None else out + self.bias.view(1, -1, 1)
