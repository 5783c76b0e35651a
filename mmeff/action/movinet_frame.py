"""The per-frame path of a streamed MoViNet: one op per block, per stem and per projection.

A single frame (N, C, 1, H, W) of a stream in inference (eval mode, no grad, :func:`frame_ops`
enabled) skips the layers' per-call work: each ``MoViNetBlock`` runs as one
:func:`mmeff.ops.movinet_block_frame` call described by its :class:`FramePlan`, and the stem and
projection ConvModules as one 2D conv each (:func:`frame_conv_module`). Results and stream state
equal the layers'. BatchNorm may be folded or not: the plan folds the current statistics.
"""
import contextlib
import contextvars
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from ..layers.cumulative_avg_pool3d import RunningSum
from ..layers.framewise_avg_pool import FramewiseAvgPool
from ..layers.framewise_conv3d import FramewiseConv3d
from ..layers.stream_buffer_conv3d import StreamBuffer, StreamBufferConv3d
from ..ops import BlockFrameWeights, movinet_block_frame
from ..ops.errors import NonFiniteError
from ..ops.movinet_block_frame import ACTIVATIONS
from ..ops.stem_conv2d import NON_FINITE_INPUT, STEM_MAX_IN_CHANNELS, stem_conv2d
from ..utils.batchnorm import batchnorm_scale_shift

_FRAME_OPS: contextvars.ContextVar = contextvars.ContextVar('mmeff_frame_ops', default=True)


@contextlib.contextmanager
def frame_ops(enabled: bool) -> Iterator[bool]:
    """Let single streamed frames in inference take the per-frame ops (the default:
    :func:`mmeff.ops.stem_conv2d`, :func:`mmeff.ops.movinet_block_frame`,
    :func:`mmeff.ops.movinet_head_frame`) or run layer by layer (same results; for
    comparisons)."""
    token = _FRAME_OPS.set(bool(enabled))
    try:
        yield bool(enabled)
    finally:
        _FRAME_OPS.reset(token)


def streams_frame_ops(module: nn.Module) -> bool:
    """Whether ``module``'s single frame now takes a per-frame op: inference (eval mode, no
    grad) and :func:`frame_ops` enabled."""
    return not module.training and not torch.is_grad_enabled() and _FRAME_OPS.get()


def activation_name(module: Optional[nn.Module]) -> Optional[str]:
    """The name :func:`mmeff.ops.movinet_block_frame` gives ``module``'s activation, or None
    if it has none for it."""
    if module is None or isinstance(module, nn.Identity):
        return 'identity'
    if isinstance(module, nn.Hardswish) or type(module).__name__ == 'HSwish':
        return 'hswish'
    if isinstance(module, nn.ReLU):
        return 'relu'
    if isinstance(module, nn.Hardsigmoid):
        return 'hardsigmoid'
    if isinstance(module, nn.Sigmoid):
        return 'sigmoid'
    return None


def conv_norm(module: nn.Module) -> Optional[Tuple[nn.Module, Optional[nn.Module]]]:
    """(conv, norm) of a conv -> norm -> act ConvModule whose norm is absent, folded (Identity)
    or a BatchNorm; None for other layouts."""
    norm = getattr(module, module.norm_name) if getattr(module, 'with_norm', False) else None
    if isinstance(norm, nn.Identity):
        norm = None
    if module.order != ('conv', 'norm', 'act') or not (norm is None or isinstance(
            norm, nn.modules.batchnorm._BatchNorm) and norm.affine and norm.track_running_stats):
        return None
    return module.conv, norm


#: (container, key, value): a container entry a plan was made from, unchanged while it holds.
Link = Tuple[dict, str, object]


@dataclass(frozen=True)
class ConvSlot:
    """A conv -> [eval-mode BatchNorm] ConvModule as a plan reads it."""
    conv: nn.Module
    norm: Optional[nn.Module]  # a BatchNorm, or None (absent or folded)
    links: Tuple[Link, ...]

    @classmethod
    def of(cls, module: nn.Module) -> Optional['ConvSlot']:
        layers = conv_norm(module)
        if layers is None:
            return None
        links = [(module._modules, 'conv', layers[0])]
        if module.with_norm:
            links.append((module._modules, module.norm_name, module._modules[module.norm_name]))
        return cls(*layers, tuple(links))

    def weight_bias(self) -> Tuple[Tensor, Optional[Tensor]]:
        """The conv's weight (flattened to (C_out, -1)) and bias with the BatchNorm's current
        statistics folded in."""
        params = self.conv._parameters
        weight, bias = params['weight'].flatten(1), params['bias']
        norm = self.norm
        if norm is None:
            return weight, bias
        scale, shift = batchnorm_scale_shift(norm)
        if bias is not None:
            shift = shift + bias * scale
        return weight * scale[:, None], shift


def frame_conv_module(module: ConvModule, x: Tensor, check_finite: bool = False) -> Tensor:
    """``module(x)`` for one frame (N, C, 1, H, W) in inference: a conv -> [BatchNorm] -> act
    ConvModule over a :class:`FramewiseConv3d` as one 2D conv (a GEMM if pointwise,
    :func:`mmeff.ops.stem_conv2d` for few input channels) with the activation, without the
    modules' per-call work; other modules run as they are. ``check_finite``: reject NaN/Inf in
    ``x`` with a ValueError (in the stem op's own pass where it runs)."""
    slot = ConvSlot.of(module)
    name = activation_name(module.activate if module.with_activation else None)
    conv = slot.conv if slot is not None else None
    stem = (isinstance(conv, FramewiseConv3d) and not conv.pointwise and conv.groups == 1
            and conv.dilation == (1, 1, 1) and conv.in_channels <= STEM_MAX_IN_CHANNELS
            and name in ACTIVATIONS)
    if check_finite and not stem and not torch.isfinite(x.sum()):
        raise NonFiniteError(NON_FINITE_INPUT)
    if name not in ACTIVATIONS or not isinstance(conv, FramewiseConv3d):
        return module(x)
    weight, bias = slot.weight_bias()
    frame = x[:, :, 0]
    if stem:
        out = stem_conv2d(frame, weight.view(conv.out_channels, -1,
                                             *conv.kernel_size[1:]), bias, stride=conv.stride[1:],
                          padding=conv.padding[1:], activation=name, check_finite=check_finite)
        return out.unsqueeze(2)
    if conv.pointwise and conv.groups == 1:
        n, c, h, w = frame.shape
        out = torch.matmul(weight, frame.reshape(n, c, h * w))
        out = (out if bias is None else out + bias.view(1, -1, 1)).view(n, -1, h, w)
    else:
        out = F.conv2d(frame, weight.view(conv.out_channels, -1, *conv.kernel_size[1:]), bias,
                       conv.stride[1:], conv.padding[1:], conv.dilation[1:], conv.groups)
    return ACTIVATIONS[name](out).unsqueeze(2)


@dataclass(frozen=True)
class FramePlan:
    """How :func:`mmeff.ops.movinet_block_frame` computes a :class:`MoViNetBlock`'s frame:
    the layers it reads and the links it was made from (:meth:`current`)."""
    expand: ConvSlot  # 1x1x1 FramewiseConv3d
    spatial: ConvSlot  # 1 x k x k depthwise FramewiseConv3d
    temporal: Optional[ConvSlot]  # k_t x 1 x 1 depthwise StreamBufferConv3d, or None
    project: ConvSlot  # 1x1x1 FramewiseConv3d
    shortcut: Optional[ConvSlot]  # 1x1x1 FramewiseConv3d, or None: identity
    shortcut_pool: bool  # FramewiseAvgPool before the shortcut conv
    reduce: nn.Module  # the SE's two 1x1x1 FramewiseConv3d
    excite: nn.Module
    activation: str  # of the expand, spatial and temporal ConvModules alike
    se_activation: str
    gate: str
    links: Tuple[Link, ...]

    @classmethod
    def of(cls, block: nn.Module) -> Optional['FramePlan']:
        """The plan of ``block``, or None if the op does not apply to it: it needs the stream
        (2+1)D layout (or no temporal kernel), one activation of the op's kinds for the expand
        and depthwise convs, a causal SE without position encoding and no dilation. BatchNorm
        may be folded or not: :meth:`weights` folds the current statistics."""
        modules = [block.expand, *block.depthwise, block.project]
        slots = [ConvSlot.of(m) for m in modules]
        activations = {
            activation_name(m.activate if m.with_activation else None)
            for m in modules[:-1]
        }
        se = block.se
        se_activation, gate = activation_name(se.act), activation_name(se.gate)
        if any(slot is None for slot in slots) or len(activations) != 1 or \
                None in activations or block.project.with_activation or \
                se_activation not in ('identity', 'relu', 'hswish') or \
                gate not in ('hardsigmoid', 'sigmoid'):
            return None
        expand, spatial, *temporal, project = slots
        if not (isinstance(expand.conv, FramewiseConv3d) and expand.conv.pointwise
                and expand.conv.groups == 1 and isinstance(spatial.conv, FramewiseConv3d)
                and spatial.conv.depthwise and spatial.conv.dilation == (1, 1, 1)
                and isinstance(project.conv, FramewiseConv3d) and project.conv.pointwise
                and project.conv.groups == 1 and se.causal and se.position_scale is None):
            return None
        temporal_slot = temporal[0] if temporal else None
        if temporal_slot is not None and not (isinstance(temporal_slot.conv, StreamBufferConv3d)
                                              and temporal_slot.conv.temporal_depthwise
                                              and temporal_slot.conv.dilation[0] == 1):
            return None
        shortcut = list(block.shortcut)
        pool = bool(shortcut) and isinstance(shortcut[0], FramewiseAvgPool)
        shortcut_module = shortcut[-1] if len(shortcut) > pool else None
        shortcut_slot = ConvSlot.of(shortcut_module) if isinstance(shortcut_module,
                                                                   ConvModule) else None
        if len(shortcut) > pool + 1 or shortcut_module is not None and not (
                shortcut_slot is not None and isinstance(shortcut_slot.conv, FramewiseConv3d)
                and shortcut_slot.conv.pointwise and shortcut_slot.conv.groups == 1
                and not shortcut_module.with_activation):
            return None
        links = [(block._modules, name, block._modules[name])
                 for name in ('expand', 'depthwise', 'se', 'project', 'shortcut')]
        links += [(block.depthwise._modules, name, module)
                  for name, module in block.depthwise._modules.items()]
        links += [(block.shortcut._modules, name, module)
                  for name, module in block.shortcut._modules.items()]
        links += [(se._modules, 'reduce', se.reduce), (se._modules, 'expand', se.expand)]
        for slot in (*slots, shortcut_slot):
            links += slot.links if slot is not None else ()
        return cls(expand, spatial, temporal_slot, project, shortcut_slot, pool, se.reduce,
                   se.expand, activations.pop(), se_activation, gate, tuple(links))

    def current(self) -> bool:
        """Whether the block still has the layers this plan was made from."""
        return all(container.get(key) is value for container, key, value in self.links)

    def weights(self, block: nn.Module) -> BlockFrameWeights:
        """The block's current weights for :func:`mmeff.ops.movinet_block_frame`."""
        expand_weight, expand_bias = self.expand.weight_bias()
        spatial_weight, spatial_bias = self.spatial.weight_bias()
        temporal_weight = temporal_bias = None
        if self.temporal is not None:
            temporal_weight, temporal_bias = self.temporal.weight_bias()
        project_weight, project_bias = self.project.weight_bias()
        shortcut_weight, shortcut_bias = self.shortcut.weight_bias() if self.shortcut \
            else (None, None)
        reduce, excite = self.reduce._parameters, self.excite._parameters
        conv = self.spatial.conv
        return BlockFrameWeights(expand_weight, expand_bias,
                                 spatial_weight.view(-1, 1, *conv.kernel_size[1:]), spatial_bias,
                                 conv.stride[1:], conv.padding[1:], temporal_weight, temporal_bias,
                                 self.activation, reduce['weight'].flatten(1), reduce['bias'],
                                 excite['weight'].flatten(1), excite['bias'], self.se_activation,
                                 self.gate, project_weight, project_bias,
                                 block._parameters['rezero'].item(), self.shortcut_pool,
                                 shortcut_weight, shortcut_bias)


def run_block_frame(block: nn.Module, x: Tensor, plan: FramePlan) -> Tensor:
    """One frame (N, C_in, 1, H, W) of a stream through ``block`` (a ``MoViNetBlock``) in
    inference, by :func:`mmeff.ops.movinet_block_frame` with ``plan``, reading and writing the
    same state entries as the block's layers."""
    weights = plan.weights(block)
    past: Tuple[Tensor, ...] = ()
    if plan.temporal is not None:
        temporal_conv = plan.temporal.conv
        entry: Optional[StreamBuffer] = temporal_conv.load_entry()
        if entry is None:
            size = [
                (length + 2 * pad - kernel) // stride + 1 for length, kernel, stride, pad in zip(
                    x.shape[3:], weights.spatial_weight.shape[2:], weights.stride, weights.padding)
            ]
            past = (x.new_zeros(x.shape[0], weights.expand_weight.shape[0], 1, *size), ) * \
                temporal_conv.buffer_size
        else:
            past = entry.frames if entry.frames[0].dtype == x.dtype else \
                tuple(frame.to(x.dtype) for frame in entry.frames)
    pool = block.se.pool
    pooled: Optional[RunningSum] = pool.load_entry()
    out, spatial, total = movinet_block_frame(
        x[:, :, 0], weights, past, None if pooled is None else pooled.total.flatten(1).to(x.dtype),
        0 if pooled is None else pooled.frames)
    if plan.temporal is not None:
        temporal_conv.store_entry(StreamBuffer(past[1:] + (spatial.unsqueeze(2), )))
    pool.store_entry(
        RunningSum(total[:, :, None, None, None], 1 if pooled is None else pooled.frames + 1))
    return out.unsqueeze(2)
