"""``SparseBottleneck``: a ResNet bottleneck that computes its convs at sampled positions and
interpolates the rest (Xie et al., ECCV 2020; docs/sampling_interp.md)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.backbones.resnet import Bottleneck
from mmdet.registry import MODELS
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..layers import Interpolant, SamplingMaskHead, sample_heads
from ..ops import conv_macs_per_position, dense_conv_macs
from ..registry import MODELS as ROOT_MODELS
from ..utils import batchnorm_scale_shift
from .pixel_convs import (conv1x1_at, conv3x3_at, images_as_rows, input_indices, new_row_map,
                          pixel_gemm, pixel_indices, row_map_image, rows_as_images, scatter_rows,
                          tap_indices)

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


def interpolation_macs(mask: Tensor, channels: int, kernel_size: int) -> int:
    """The paper's charge of an interpolation over ``channels`` maps with a k x k window at the
    bool ``mask`` (N, H, W): ``k^2 * C * HW * rho * (1 - rho)`` per image, rho its density
    (each unsampled position weighs the k^2 * rho samples its window holds on average)."""
    area = mask.shape[1] * mask.shape[2]
    kept = mask.flatten(1).sum(1).double()
    return int(round(kernel_size**2 * channels * float((kept * (area - kept)).sum()) / area))


def folded(conv: nn.Conv2d, bn: nn.Module) -> Tuple[Tensor, Tensor]:
    """(weight, bias) of ``bn(conv(x))`` as one conv, from the eval-mode statistics."""
    scale, shift = batchnorm_scale_shift(bn)
    weight = conv.weight * scale.view(-1, 1, 1, 1)
    bias = shift if conv.bias is None else shift + scale * conv.bias
    return weight, bias


class FoldedCache:
    """The :func:`folded` (weight, bias) of conv + BN pairs, recomputed only when the inputs
    changed: another tensor object, storage, dtype or device, an in-place update (its version
    counter), ``eps``, or the grad and inference modes (whose tensors cannot be mixed).
    Inference tensors (parameters created under ``torch.inference_mode``) have no version
    counter: with one among the inputs, nothing is cached."""

    def __init__(self):
        self._key: Optional[List] = None
        self._value: List[Tuple[Tensor, Tensor]] = []

    @staticmethod
    def _tensors(pairs: Sequence[Tuple[nn.Conv2d, nn.Module]]) -> List[Tensor]:
        return [
            t for conv, bn in pairs
            for t in (conv.weight, conv.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var)
            if t is not None
        ]

    def get(self, pairs: Sequence[Tuple[nn.Conv2d, nn.Module]]) -> List[Tuple[Tensor, Tensor]]:
        """``[folded(conv, bn) for conv, bn in pairs]``, from the cache when still valid."""
        tensors = self._tensors(pairs)
        if any(t.is_inference() for t in tensors):
            self._key = None
            return [folded(conv, bn) for conv, bn in pairs]
        key = [(t, t.data_ptr(), t._version, t.dtype, t.device) for t in tensors]
        key.append((tuple(bn.eps for _, bn in pairs), torch.is_grad_enabled(),
                    torch.is_inference_mode_enabled()))
        if self._key is None or len(key) != len(self._key) or any(
                a[0] is not b[0] or a[1:] != b[1:] for a, b in zip(key[:-1], self._key[:-1])) \
                or key[-1] != self._key[-1]:
            self._value = [folded(conv, bn) for conv, bn in pairs]
            self._key = key
        return self._value


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
    conv3 (and the shortcut conv in ``'block'``) only at the sampled pixels (gather + GEMM,
    :mod:`mmeff.det.pixel_convs`), BatchNorm folded in, and interpolates with
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
        self._folded_cache = FoldedCache()
        self.sampling_probabilities: Tuple[Tensor, ...] = ()
        self.dense_macs = 0
        self.executed_macs = 0

    @staticmethod
    def _build_interpolant(cfg: Dict, channels: int) -> Interpolant:
        interpolant = ROOT_MODELS.build(dict(cfg, channels=channels))
        if not isinstance(interpolant, Interpolant):
            raise TypeError(f'SparseBottleneck: interpolant must build an Interpolant, got '
                            f'{type(interpolant).__name__}')
        return interpolant

    def masks(self, x: Tensor) -> Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]]:
        """(probabilities, masks) of the block's mask heads (mask1 first for 'inner'), their
        tap convs as one conv (:func:`~mmeff.layers.sample_heads`)."""
        heads = (self.mask1_head, self.mask2_head) if self.integration == 'inner' else \
            (self.mask2_head, )
        drawn = sample_heads(heads, x)
        return tuple(p for p, _ in drawn), tuple(m for _, m in drawn)

    def forward(self, x: Tensor) -> Tensor:
        """Training: dense with soft masks (keeps the probabilities for the sparse loss);
        evaluation: sparse, its MACs counted (:meth:`count_macs`)."""
        probabilities, masks = self.masks(x)
        if self.training:
            self.sampling_probabilities = probabilities
            self.sampling_input_size = tuple(x.shape[2:])
            return self.forward_dense(x, masks)
        self.count_macs(x.shape, masks)
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
        """Inference with bool ``masks``: conv1, conv2 and conv3 (BatchNorm folded in) only at
        the sampled pixels, image by image (:mod:`mmeff.det.pixel_convs`); the interpolation
        with :func:`mmeff.ops.sparse_interp2d`. Works in channels_last and returns a
        channels_last tensor (the next sparse block reads whole channel vectors)."""
        mask2 = masks[-1]
        (w1, b1), (w2, b2), (w3, b3) = self.folded_convs()
        size1 = ((x.shape[2] - 1) // self.conv1_stride + 1,
                 (x.shape[3] - 1) // self.conv1_stride + 1)
        mask1 = masks[0] if self.integration == 'inner' else conv_support(
            mask2, size1, self.conv2_stride, self.conv2.dilation[0])
        size2 = tuple(mask2.shape[1:])
        x = x.contiguous(memory_format=torch.channels_last)
        x_rows = images_as_rows(x)
        out_rows = x.new_empty(x.shape[0], size2[0] * size2[1], w3.shape[0])
        for n in range(x.shape[0]):
            at1 = pixel_indices(mask1[n])
            out = self.relu(
                conv1x1_at(x_rows[n], w1, b1,
                           input_indices(at1, size1[1], x.shape[3], self.conv1_stride)))
            out = scatter_rows(out, at1, size1)
            if self.integration == 'inner':
                filled = new_row_map(size1, self.planes, out)
                self.interp1(row_map_image(out, size1), mask1[n:n + 1],
                             out=row_map_image(filled, size1))
                out = filled
            at2 = pixel_indices(mask2[n])
            taps = tap_indices(at2, size2[1], size1, self.conv2_stride, self.conv2.dilation[0])
            out = pixel_gemm(self.relu(conv3x3_at(out, w2, b2, taps)), w3, b3)
            if self.integration == 'block':
                out = self.relu(out + self._shortcut_at(x[n:n + 1], x_rows[n], at2, size2[1]))
            out_rows[n].index_copy_(0, at2, out)
        out = rows_as_images(out_rows, size2)
        if self.integration == 'block':
            return self.interp2(out, mask2)
        if self.integration == 'inner':  # conv3 + BN is affine: it commutes with the
            out = self.interp2(out, mask2, fill=b3)  # normalised interpolation
        else:
            out = self.interp2(out, mask2)
        return self.relu(out.add_(self._shortcut(x)))

    def folded_convs(self) -> List[Tuple[Tensor, Tensor]]:
        """(weight, bias) of conv1 + norm1, conv2 + norm2, conv3 + norm3 with BatchNorm folded
        in, cached between evaluation forwards (:class:`FoldedCache`)."""
        return self._folded_cache.get([(self.conv1, self.norm1), (self.conv2, self.norm2),
                                       (self.conv3, self.norm3)])

    def _shortcut_at(self, image: Tensor, rows: Tensor, indices: Tensor, out_width: int) -> Tensor:
        """(P, C_out): the shortcut of one image (1, C, H, W), with rows (H * W, C), at the
        output pixels ``indices``; a 1x1 conv + BN downsample is computed there only."""
        if self.downsample is None:
            return rows.index_select(0, indices)
        layers = list(self.downsample) if isinstance(self.downsample, nn.Sequential) else []
        if len(layers) == 2 and isinstance(layers[0], nn.Conv2d) and isinstance(
                layers[1], _BatchNorm) and layers[0].kernel_size == (1, 1):
            weight, bias = folded(layers[0], layers[1])
            return conv1x1_at(
                rows, weight, bias,
                input_indices(indices, out_width, image.shape[3], layers[0].stride[0]))
        return images_as_rows(self.downsample(image))[0].index_select(0, indices)

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

    def _shortcut_conv(self) -> Optional[nn.Conv2d]:
        if self.downsample is None:
            return None
        return next((m for m in self.downsample.modules() if isinstance(m, nn.Conv2d)), None)

    def count_macs(self, input_shape: Sequence[int], masks: Tuple[Tensor, ...]) -> None:
        """Set ``dense_macs`` and ``executed_macs`` (read by :class:`~mmeff.utils.MacCounter`)
        for a forward of an (N, C, H, W) input with ``masks`` (soft masks count where >= 0.5);
        every evaluation forward calls it.

        ``dense_macs``: mmdet's ``Bottleneck`` on that input (conv1, conv2, conv3 and the
        shortcut conv). ``executed_macs``, the sparse charges of the paper's FLOP count: conv1
        at its sampled pixels (mask1 for 'inner', the pixels conv2 reads otherwise); conv2 and
        conv3 at mask2; the shortcut conv dense (at mask2 for 'block'); the mask heads dense;
        each interpolation as :func:`interpolation_macs` over the channels it fills (for
        'inner' the second one runs after conv3, on ``planes * expansion`` channels)."""
        hard = tuple(m if m.dtype == torch.bool else m >= 0.5 for m in masks)
        mask2 = hard[-1]
        batch, size2 = input_shape[0], tuple(mask2.shape[1:])
        size1 = tuple((s - 1) // self.conv1_stride + 1 for s in input_shape[2:])
        mask1 = hard[0] if self.integration == 'inner' else conv_support(
            mask2, size1, self.conv2_stride, self.conv2.dilation[0])
        kept2 = int(mask2.sum())
        late_convs = conv_macs_per_position(self.conv2.weight) + conv_macs_per_position(
            self.conv3.weight)
        self.dense_macs = dense_conv_macs(self.conv1.weight, (batch, *size1)) + late_convs * \
            batch * size2[0] * size2[1]
        self.executed_macs = conv_macs_per_position(self.conv1.weight) * int(mask1.sum()) + \
            late_convs * kept2
        shortcut = self._shortcut_conv()
        if shortcut is not None:
            dense = dense_conv_macs(shortcut.weight, (batch, *size2))
            self.dense_macs += dense
            self.executed_macs += conv_macs_per_position(shortcut.weight) * kept2 \
                if self.integration == 'block' else dense
        heads = (self.mask1_head, self.mask2_head) if self.integration == 'inner' else \
            (self.mask2_head, )
        self.executed_macs += sum(
            dense_conv_macs(head.conv.weight, (batch, *mask.shape[1:]))
            for head, mask in zip(heads, hard))
        out_channels = self.planes * self.expansion
        self.executed_macs += interpolation_macs(mask2, out_channels, self.interp2.kernel_size)
        if self.integration == 'inner':
            self.executed_macs += interpolation_macs(mask1, self.planes, self.interp1.kernel_size)

    def macs_per_image(self, in_size: Tuple[int, int]) -> Dict[str, float]:
        """Dense MACs of conv1 and of conv2 + conv3 for one image of ``in_size``."""
        h1, w1 = ((s - 1) // self.conv1_stride + 1 for s in in_size)
        h2, w2 = ((s - 1) // self.conv2_stride + 1 for s in (h1, w1))
        planes = self.planes
        return dict(conv1=h1 * w1 * self.inplanes * planes,
                    conv23=h2 * w2 * (9 * planes * planes + planes * planes * self.expansion))
