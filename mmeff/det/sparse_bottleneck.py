"""``SparseBottleneck``: a ResNet bottleneck that computes its convs at sampled positions and
interpolates the rest (Xie et al., ECCV 2020; docs/sampling_interp.md)."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.backbones.resnet import Bottleneck
from mmdet.registry import MODELS
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..layers import Interpolant, SamplingMaskHead
from ..ops import sparse_conv2d
from ..registry import MODELS as ROOT_MODELS
from ..utils import batchnorm_scale_shift

#: Where the interpolation sits in the block (docs/sampling_interp.md, "Residual integration").
INTEGRATIONS = ('inner', 'residual', 'block')


def conv_support(mask: Tensor, in_size: Tuple[int, int], stride: int, dilation: int) -> Tensor:
    """(N, H_in, W_in) bool: the inputs that a 3x3 conv (padding = dilation) reads to compute
    its outputs at ``mask`` (N, H_out, W_out)."""
    out_h, out_w = mask.shape[1:]
    extra = (in_size[0] - 1 - (out_h - 1) * stride, in_size[1] - 1 - (out_w - 1) * stride)
    ones = torch.ones(1, 1, 3, 3, dtype=torch.float32, device=mask.device)
    reach = F.conv_transpose2d(
        mask.unsqueeze(1).float(), ones, stride=stride, padding=dilation, output_padding=extra,
        dilation=dilation)
    return reach[:, 0] > 0


def folded(conv: nn.Conv2d, bn: nn.Module) -> Tuple[Tensor, Tensor]:
    """(weight, bias) of ``bn(conv(x))`` as one conv, from the eval-mode statistics."""
    scale, shift = batchnorm_scale_shift(bn)
    weight = conv.weight * scale.view(-1, 1, 1, 1)
    bias = shift if conv.bias is None else shift + scale * conv.bias
    return weight, bias


@MODELS.register_module()
class SparseBottleneck(Bottleneck):
    """mmdet's ``Bottleneck`` (same weights and state-dict keys) with sampling masks.

    Mask heads (:class:`~mmeff.layers.SamplingMaskHead`) on the block input predict where to
    compute: ``mask1`` at conv1's output resolution (integration ``'inner'`` only) and
    ``mask2`` at the block's output resolution. An interpolant fills the other positions.

    Integrations (the interpolation's place):

    - ``'inner'`` (the published code's): conv1 at mask1, interpolate; conv2 at mask2,
      interpolate; conv3 on the interpolated map; the shortcut is dense.
    - ``'residual'``: the residual branch at mask2 (conv1 where conv2 reads), interpolated
      once after conv3; the shortcut is dense.
    - ``'block'``: the whole block, shortcut and ReLU included, at mask2, interpolated once
      after the addition.

    Training and the dense reference (:meth:`forward_dense`) compute every conv densely and
    blend with the (soft) masks. Evaluation (:meth:`forward_sparse`) computes conv1, conv2,
    conv3 (and the shortcut conv in ``'block'``) only at the sampled positions with
    :func:`mmeff.ops.sparse_conv2d`, BatchNorm folded in, and interpolates with
    :func:`mmeff.ops.sparse_interp2d`; it equals the dense reference on the same masks.

    Args:
        integration: one of :data:`INTEGRATIONS`.
        interpolant: config of an :class:`~mmeff.layers.Interpolant` (``channels`` is filled in).
        grid_interval: stride of the grid prior of the mask heads (0: none).
        **kwargs: as mmdet's ``Bottleneck``; DCN and plugins are not supported.
    """

    def __init__(self, *args, integration: str = 'inner', interpolant: Optional[Dict] = None,
                 grid_interval: int = 11, **kwargs):
        super().__init__(*args, **kwargs)
        if integration not in INTEGRATIONS:
            raise ValueError(
                f'SparseBottleneck: integration must be one of {INTEGRATIONS}, got {integration!r}')
        if self.with_dcn or self.with_plugins:
            raise ValueError('SparseBottleneck: dcn and plugins are not supported')
        self.integration = integration
        interpolant = dict(type='RBFInterpolant') if interpolant is None else interpolant
        stride = self.conv1_stride * self.conv2_stride
        self.mask2_head = SamplingMaskHead(self.inplanes, stride, grid_interval)
        out_channels = self.planes * (1 if integration == 'inner' else self.expansion)
        self.interp2 = self._build_interpolant(interpolant, out_channels)
        if integration == 'inner':
            self.mask1_head = SamplingMaskHead(self.inplanes, self.conv1_stride, grid_interval)
            self.interp1 = self._build_interpolant(interpolant, self.planes)
        self.sampling_probabilities: Tuple[Tensor, ...] = ()

    @staticmethod
    def _build_interpolant(cfg: Dict, channels: int) -> Interpolant:
        interpolant = ROOT_MODELS.build(dict(cfg, channels=channels))
        if not isinstance(interpolant, Interpolant):
            raise TypeError(f'SparseBottleneck: interpolant must build an Interpolant, got '
                            f'{type(interpolant).__name__}')
        return interpolant

    def masks(self, x: Tensor) -> Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]]:
        """(probabilities, masks) of the block's mask heads (mask1 first for 'inner')."""
        heads = (self.mask1_head, self.mask2_head) if self.integration == 'inner' else \
            (self.mask2_head, )
        drawn = [head(x) for head in heads]
        return tuple(p for p, _ in drawn), tuple(m for _, m in drawn)

    def forward(self, x: Tensor) -> Tensor:
        """Training: dense with soft masks (keeps the probabilities for the sparse loss);
        evaluation: sparse."""
        probabilities, masks = self.masks(x)
        if self.training:
            self.sampling_probabilities = probabilities
            self.sampling_input_size = tuple(x.shape[2:])
            return self.forward_dense(x, masks)
        return self.forward_sparse(x, masks)

    def _shortcut(self, x: Tensor) -> Tensor:
        return x if self.downsample is None else self.downsample(x)

    def forward_dense(self, x: Tensor, masks: Tuple[Tensor, ...]) -> Tensor:
        """The dense-and-mask reference: every conv dense, interpolation by the interpolants'
        dense reference; ``masks`` bool or soft, as :meth:`masks` returns them."""
        mask2 = masks[-1]
        out = self.relu(self.norm1(self.conv1(x)))
        if self.integration == 'inner':
            out = self.interp1.forward_reference(out, masks[0])
        out = self.relu(self.norm2(self.conv2(out)))
        if self.integration == 'inner':
            out = self.interp2.forward_reference(out, mask2)
        out = self.norm3(self.conv3(out))
        if self.integration == 'residual':
            out = self.interp2.forward_reference(out, mask2)
        out = self.relu(out + self._shortcut(x))
        if self.integration == 'block':
            out = self.interp2.forward_reference(out, mask2)
        return out

    def forward_sparse(self, x: Tensor, masks: Tuple[Tensor, ...]) -> Tensor:
        """Inference with bool ``masks``: the convs at the sampled positions only."""
        mask2 = masks[-1]
        w1, b1 = folded(self.conv1, self.norm1)
        w2, b2 = folded(self.conv2, self.norm2)
        w3, b3 = folded(self.conv3, self.norm3)
        conv1_size = ((x.shape[2] - 1) // self.conv1_stride + 1,
                      (x.shape[3] - 1) // self.conv1_stride + 1)
        mask1 = masks[0] if self.integration == 'inner' else conv_support(
            mask2, conv1_size, self.conv2_stride, self.conv2.dilation[0])
        out = self.relu(sparse_conv2d(x, w1, b1, mask1, stride=self.conv1_stride))
        if self.integration == 'inner':
            out = self.interp1(out, mask1)
        out = self.relu(
            sparse_conv2d(out, w2, b2, mask2, stride=self.conv2_stride, padding=self.conv2.padding,
                          dilation=self.conv2.dilation))
        out = sparse_conv2d(out, w3, b3, mask2)
        if self.integration == 'inner':  # conv3 + BN is affine: it commutes with the
            out = self.interp2(out, mask2, fill=b3)  # normalised interpolation
        elif self.integration == 'residual':
            out = self.interp2(out, mask2)
        if self.integration != 'block':
            return self.relu(out + self._shortcut(x))
        return self.interp2(self.relu(out + self._sparse_shortcut(x, mask2)), mask2)

    def _sparse_shortcut(self, x: Tensor, mask: Tensor) -> Tensor:
        """The shortcut at ``mask`` (a conv + BN downsample computed there only)."""
        layers = list(self.downsample) if isinstance(self.downsample, nn.Sequential) else []
        if len(layers) == 2 and isinstance(layers[0], nn.Conv2d) and isinstance(
                layers[1], _BatchNorm) and layers[0].kernel_size == (1, 1):
            weight, bias = folded(layers[0], layers[1])
            return sparse_conv2d(x, weight, bias, mask, stride=layers[0].stride)
        return self._shortcut(x)

    def sampling_loss(self) -> Tensor:
        """The paper's per-block loss from the last training forward: 0.25 mean(p1) +
        0.75 mean(p2) for 'inner' (the FLOP shares of conv1 and conv2 + conv3), mean(p2)
        otherwise."""
        if not self.sampling_probabilities:
            raise RuntimeError('SparseBottleneck: no training forward to take the loss from')
        if self.integration == 'inner':
            p1, p2 = self.sampling_probabilities
            return 0.25 * p1.mean() + 0.75 * p2.mean()
        return self.sampling_probabilities[0].mean()

    def macs_per_image(self, in_size: Tuple[int, int]) -> Dict[str, float]:
        """Dense MACs of conv1 and of conv2 + conv3 for one image of ``in_size``."""
        h1, w1 = ((s - 1) // self.conv1_stride + 1 for s in in_size)
        h2, w2 = ((s - 1) // self.conv2_stride + 1 for s in (h1, w1))
        planes = self.planes
        return dict(conv1=h1 * w1 * self.inplanes * planes,
                    conv23=h2 * w2 * (9 * planes * planes + planes * planes * self.expansion))
