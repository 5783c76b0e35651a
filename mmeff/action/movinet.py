"""MoViNet backbones A0-A2 (Kondratyuk et al., CVPR 2021, arXiv 2103.11511), base and stream.

The architecture follows the published block table (tensorflow/models
``official/projects/movinet/modeling/movinet.py``, ``BLOCK_SPECS``): a (1, 3, 3) stride-2 stem,
five stages of inverted-bottleneck blocks (1x1x1 expand, depthwise k_t x k x k, SE, 1x1x1
project, zero-initialised ReZero scale, stochastic depth, residual through a 3x3 stride-2 average
pool and a 1x1x1 conv when the shape changes), and a 1x1x1 projection. No temporal striding.

``causal=True`` is the stream model: every temporal conv is a :class:`StreamBufferConv3d`, every
SE a causal per-frame :class:`CausalSqueezeExcitation`; ``conv_type='2plus1d'`` (the stream
release) splits each k_t x k x k depthwise conv into k x k then k_t x 1 x 1 with the buffer
between them, so spatial work is never redone. ``causal=False`` is the base model (symmetric
temporal padding, clip-level SE).

Deviations from the TF reference: PyTorch symmetric spatial padding instead of TF 'same' (same
output sizes, e.g. 172 -> 86 -> 43 -> 22 -> 11 -> 6, pixel alignment differs for stride 2) and
PyTorch initialisation; no pretrained weights (none can be downloaded here).
"""
import contextlib
import contextvars
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..utils.batchnorm import batchnorm_scale_shift
from ..layers import CausalSqueezeExcitation, StreamState, StreamStateful
from ..layers.cumulative_avg_pool3d import RunningSum
from ..layers.framewise_conv3d import FramewiseConv3d
from ..layers.stream_buffer_conv3d import StreamBuffer, StreamBufferConv3d, check_stream_input
from ..layers.stream_state import active_stream, stream_transaction
from ..ops import BlockFrameWeights, movinet_block_frame
from ..ops.movinet_block_frame import ACTIVATIONS
from ..ops.stem_conv2d import NON_FINITE_INPUT, STEM_MAX_IN_CHANNELS, stem_conv2d

Kernel = Tuple[int, int, int]
K13: Kernel = (1, 3, 3)
K15: Kernel = (1, 5, 5)
K33: Kernel = (3, 3, 3)
K53: Kernel = (5, 3, 3)

#: arch -> stem channels, stages of (out channels, layers of (expand, kernel, spatial stride)),
#: projection channels, classifier hidden width (published BLOCK_SPECS).
ARCHS: Dict[str, dict] = {
    'a0': dict(
        stem=8,
        stages=[(8, [(24, K15, 2)]),
                (32, [(80, K33, 2), (80, K33, 1), (80, K33, 1)]),
                (56, [(184, K53, 2), (112, K33, 1), (184, K33, 1)]),
                (56, [(184, K53, 1), (184, K33, 1), (184, K33, 1), (184, K33, 1)]),
                (104, [(384, K53, 2), (280, K15, 1), (280, K15, 1), (344, K15, 1)])],
        project=480, head=2048),
    'a1': dict(
        stem=16,
        stages=[(16, [(40, K15, 2), (40, K33, 1)]),
                (40, [(96, K33, 2), (120, K33, 1), (96, K33, 1), (96, K33, 1)]),
                (64, [(216, K53, 2), (128, K33, 1), (216, K33, 1), (168, K33, 1), (216, K33, 1)]),
                (64, [(216, K53, 1), (216, K33, 1), (216, K33, 1), (128, K33, 1), (128, K15, 1),
                      (216, K33, 1)]),
                (136, [(456, K53, 2), (360, K15, 1), (360, K15, 1), (360, K15, 1), (456, K15, 1),
                       (456, K33, 1), (544, K13, 1)])],
        project=600, head=2048),
    'a2': dict(
        stem=16,
        stages=[(16, [(40, K15, 2), (40, K33, 1), (64, K33, 1)]),
                (40, [(96, K33, 2), (120, K33, 1), (96, K33, 1), (96, K33, 1), (120, K33, 1)]),
                (72, [(240, K53, 2), (160, K33, 1), (240, K33, 1), (192, K33, 1), (240, K33, 1)]),
                (72, [(240, K53, 1), (240, K33, 1), (240, K33, 1), (240, K33, 1), (144, K15, 1),
                      (240, K33, 1)]),
                (144, [(480, K53, 2), (384, K15, 1), (384, K15, 1), (480, K15, 1), (480, K15, 1),
                       (480, K33, 1), (576, K13, 1)])],
        project=640, head=2048),
}


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round to the nearest multiple of ``divisor``, never below 90% of ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def depthwise_convs(channels: int, kernel: Kernel, spatial_stride: int, causal: bool,
                    conv_type: str, norm_cfg: dict, act_cfg: dict) -> List[ConvModule]:
    """The depthwise k_t x k x k conv of a block as ConvModules (conv, BN, act): one 3D conv, or
    for '2plus1d' a 1 x k x k conv followed by a k_t x 1 x 1 conv (the buffer sits between)."""
    kt, kh, kw = kernel

    def conv(kernel_size: Kernel, stride: int) -> ConvModule:
        temporal = kernel_size[0]
        streamed = causal and temporal > 1
        return ConvModule(
            channels, channels, kernel_size, stride=(1, stride, stride),
            padding=(0 if streamed else temporal // 2, kernel_size[1] // 2, kernel_size[2] // 2),
            groups=channels,
            conv_cfg=dict(type='StreamBufferConv3d' if streamed else
                          'FramewiseConv3d' if temporal == 1 else 'Conv3d'),
            norm_cfg=norm_cfg, act_cfg=act_cfg)

    if conv_type == '3d' or kt == 1:
        return [conv(kernel, spatial_stride)]
    return [conv((1, kh, kw), spatial_stride), conv((kt, 1, 1), 1)]


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
    if module.order != ('conv', 'norm', 'act') or not (
            norm is None or isinstance(norm, nn.modules.batchnorm._BatchNorm)
            and norm.affine and norm.track_running_stats):
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
        raise ValueError(NON_FINITE_INPUT)
    if name not in ACTIVATIONS or not isinstance(conv, FramewiseConv3d):
        return module(x)
    weight, bias = slot.weight_bias()
    frame = x[:, :, 0]
    if stem:
        out = stem_conv2d(frame, weight.view(conv.out_channels, -1, *conv.kernel_size[1:]),
                          bias, stride=conv.stride[1:], padding=conv.padding[1:],
                          activation=name, check_finite=check_finite)
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
    def of(cls, block: 'MoViNetBlock') -> Optional['FramePlan']:
        """The plan of ``block``, or None if the op does not apply to it: it needs the stream
        (2+1)D layout (or no temporal kernel), one activation of the op's kinds for the expand
        and depthwise convs, a causal SE without position encoding and no dilation. BatchNorm
        may be folded or not: :meth:`weights` folds the current statistics."""
        modules = [block.expand, *block.depthwise, block.project]
        slots = [ConvSlot.of(m) for m in modules]
        activations = {activation_name(m.activate if m.with_activation else None)
                       for m in modules[:-1]}
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
        if temporal_slot is not None and not (
                isinstance(temporal_slot.conv, StreamBufferConv3d)
                and temporal_slot.conv.temporal_depthwise and temporal_slot.conv.dilation[0] == 1):
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

    def weights(self, block: 'MoViNetBlock') -> BlockFrameWeights:
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
        return BlockFrameWeights(
            expand_weight, expand_bias, spatial_weight.view(-1, 1, *conv.kernel_size[1:]),
            spatial_bias, conv.stride[1:], conv.padding[1:], temporal_weight, temporal_bias,
            self.activation, reduce['weight'].flatten(1), reduce['bias'],
            excite['weight'].flatten(1), excite['bias'], self.se_activation, self.gate,
            project_weight, project_bias, block._parameters['rezero'].item(), self.shortcut_pool,
            shortcut_weight, shortcut_bias)

class FramewiseAvgPool(nn.Module):
    """3x3 stride-2 average pooling of every frame, padding excluded from the mean (TF 'same'
    average pooling); works on frames down to 1x1, unlike ``avg_pool3d``."""

    def forward(self, x: Tensor) -> Tensor:
        n, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)
        pooled = F.avg_pool2d(frames, 3, 2, 1, count_include_pad=False)
        return pooled.reshape(n, t, c, *pooled.shape[-2:]).transpose(1, 2)


class MoViNetBlock(BaseModule):
    """One MoViNet inverted-bottleneck block: (N, C_in, T, H, W) -> (N, C_out, T, H/s, W/s)."""

    def __init__(self, in_channels: int, out_channels: int, expand_channels: int, kernel: Kernel,
                 spatial_stride: int, causal: bool, conv_type: str, position_encoding: bool,
                 norm_cfg: dict, act_cfg: dict, gate_cfg: dict, drop_path_rate: float = 0.,
                 rezero_init: float = 0.):
        super().__init__()
        pointwise = dict(type='FramewiseConv3d')
        self.expand = ConvModule(in_channels, expand_channels, 1, conv_cfg=pointwise,
                                 norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.depthwise = nn.Sequential(*depthwise_convs(expand_channels, kernel, spatial_stride,
                                                        causal, conv_type, norm_cfg, act_cfg))
        self.se = CausalSqueezeExcitation(
            expand_channels, make_divisible(0.25 * expand_channels * (2 if causal else 1)),
            causal=causal, position_encoding=position_encoding, act_cfg=act_cfg,
            gate_cfg=gate_cfg)
        self.project = ConvModule(expand_channels, out_channels, 1, conv_cfg=pointwise,
                                  norm_cfg=norm_cfg, act_cfg=None)
        self.rezero = nn.Parameter(torch.tensor(float(rezero_init)))
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        shortcut: List[nn.Module] = []
        if spatial_stride > 1:
            shortcut.append(FramewiseAvgPool())
        if in_channels != out_channels:
            shortcut.append(ConvModule(in_channels, out_channels, 1, conv_cfg=pointwise,
                                       norm_cfg=norm_cfg, act_cfg=None))
        self.shortcut = nn.Sequential(*shortcut)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[2] == 1 and streams_frame_ops(self):
            plan = self.frame_plan()
            if plan is not None:
                return self._stream_frame(x, plan)
        branch = self.project(self.se(self.depthwise(self.expand(x))))
        return self.shortcut(x) + self.drop_path(self.rezero * branch)

    def frame_plan(self) -> Optional['FramePlan']:
        """How a single streamed frame can take the one-op path, or None where this block's
        layers do not have the shapes it handles (3D depthwise conv, position encoding, other
        activations); made again when a layer it was made from has been replaced."""
        plan = self.__dict__.get('_frame_plan', self)  # self: no plan made yet
        if plan is self or plan is not None and not plan.current():
            plan = self.__dict__['_frame_plan'] = FramePlan.of(self)
        return plan

    def _stream_frame(self, x: Tensor, plan: 'FramePlan') -> Tensor:
        """One frame (N, C_in, 1, H, W) of a stream in inference through
        :func:`mmeff.ops.movinet_block_frame`, reading and writing the same state entries as
        ``forward``."""
        weights = plan.weights(self)
        past: Tuple[Tensor, ...] = ()
        if plan.temporal is not None:
            temporal_conv = plan.temporal.conv
            entry: Optional[StreamBuffer] = temporal_conv.load_entry()
            if entry is None:
                size = [(length + 2 * pad - kernel) // stride + 1 for length, kernel, stride, pad
                        in zip(x.shape[3:], weights.spatial_weight.shape[2:], weights.stride,
                               weights.padding)]
                past = (x.new_zeros(x.shape[0], weights.expand_weight.shape[0], 1, *size), ) * \
                    temporal_conv.buffer_size
            else:
                past = entry.frames if entry.frames[0].dtype == x.dtype else \
                    tuple(frame.to(x.dtype) for frame in entry.frames)
        pool = self.se.pool
        pooled: Optional[RunningSum] = pool.load_entry()
        out, spatial, total = movinet_block_frame(
            x[:, :, 0], weights, past,
            None if pooled is None else pooled.total.flatten(1).to(x.dtype),
            0 if pooled is None else pooled.frames)
        if plan.temporal is not None:
            temporal_conv.store_entry(StreamBuffer(past[1:] + (spatial.unsqueeze(2), )))
        pool.store_entry(RunningSum(total[:, :, None, None, None],
                                    1 if pooled is None else pooled.frames + 1))
        return out.unsqueeze(2)


@MODELS.register_module()
class MoViNet(StreamStateful, BaseModule):
    """MoViNet backbone, base (``causal=False``) or stream (``causal=True``).

    Args:
        arch: 'a0', 'a1', 'a2', or a dict like the entries of :data:`ARCHS`.
        causal: stream model (causal convs with stream buffers, causal SE).
        conv_type: '3d' or '2plus1d'; default '2plus1d' when causal (the stream release),
            '3d' otherwise.
        position_encoding: causal SE position encoding (the A0-A2 releases do not use it).
        in_channels: input channels.
        norm_cfg, act_cfg, gate_cfg: BatchNorm (TF defaults: momentum 0.99 i.e. 0.01 here,
            eps 1e-3), main activation (Swish base / HSwish stream) and SE gate (Sigmoid /
            Hardsigmoid); None picks the default of the variant.
        drop_path_rate: stochastic depth, rising linearly to this rate at the last block.
        rezero_init: initial value of each block's learnable residual-branch scale (0 as
            published: every block starts as its shortcut; short schedules learn faster with 1).

    Shapes: (N, C, T, H, W) -> (N, project, T, H/32, W/32) (spatial sizes rounded up).

    The stream model keeps its state per stream: inside ``with mmeff.stream(state):`` in
    ``state``, otherwise in its own default stream (``mmeff.reset_streams`` clears it). A call
    runs as a transaction: an input that is rejected (wrong channels, NaN/Inf, a frame size or
    batch that differs from the stream's) raises ValueError and leaves the stream unchanged.
    A single frame in inference (no grad) runs each block as one op
    (:func:`mmeff.ops.movinet_block_frame`, see :class:`FramePlan`), with the same results and
    state as the layers.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'a0',
                 causal: bool = False,
                 conv_type: Optional[str] = None,
                 position_encoding: bool = False,
                 in_channels: int = 3,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 gate_cfg: Optional[dict] = None,
                 drop_path_rate: float = 0.,
                 rezero_init: float = 0.,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        spec = ARCHS[arch] if isinstance(arch, str) else arch
        conv_type = conv_type or ('2plus1d' if causal else '3d')
        if conv_type not in ('3d', '2plus1d'):
            raise ValueError(f"MoViNet: conv_type must be '3d' or '2plus1d', got {conv_type!r}")
        norm_cfg = norm_cfg or dict(type='BN3d', momentum=0.01, eps=1e-3)
        act_cfg = act_cfg or dict(type='HSwish' if causal else 'Swish')
        gate_cfg = gate_cfg or dict(type='Hardsigmoid' if causal else 'Sigmoid')
        self.causal = causal
        self.in_channels = in_channels
        self.out_channels = spec['project']
        framewise = dict(type='FramewiseConv3d')
        self.stem = ConvModule(in_channels, spec['stem'], K13, stride=(1, 2, 2), padding=(0, 1, 1),
                               conv_cfg=framewise, norm_cfg=norm_cfg, act_cfg=act_cfg)
        num_blocks = sum(len(layers) for _, layers in spec['stages'])
        channels, index, stages = spec['stem'], 0, []
        for out_channels, layers in spec['stages']:
            blocks = []
            for expand, kernel, stride in layers:
                index += 1
                blocks.append(MoViNetBlock(channels, out_channels, expand, tuple(kernel), stride,
                                           causal, conv_type, position_encoding, norm_cfg,
                                           act_cfg, gate_cfg, drop_path_rate * index / num_blocks,
                                           rezero_init))
                channels = out_channels
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.project = ConvModule(channels, spec['project'], 1, conv_cfg=framewise,
                                  norm_cfg=norm_cfg, act_cfg=act_cfg)
        self._default_stream = StreamState()
        for module in self.modules():  # forward() checks the input once for NaN/Inf
            if hasattr(module, 'check_finite'):
                module.check_finite = False

    def reset_stream(self) -> None:
        """Forget the default stream (``mmeff.reset_streams`` calls it)."""
        self._default_stream = StreamState()

    def features(self, x: Tensor, check_finite: bool = False) -> Tensor:
        """The network itself, without stream handling; ``check_finite``: reject NaN/Inf in
        ``x`` (ValueError; single frames in inference check in the stem op's pass)."""
        if x.shape[2] == 1 and streams_frame_ops(self):
            stem = frame_conv_module(self.stem, x, check_finite=check_finite)
            return frame_conv_module(self.project, self.stages(stem))
        if check_finite and not torch.isfinite(x.sum()):
            raise ValueError(NON_FINITE_INPUT)
        return self.project(self.stages(self.stem(x)))

    def forward(self, x: Tensor) -> Tensor:
        name = type(self).__name__
        if not self.causal:
            check_stream_input(name, x, self.in_channels, None)
            return self.features(x)
        with stream_transaction(resolve_stream(self._default_stream)):
            geometry: Optional[Tensor] = self.load_entry()
            check_stream_input(name, x, self.in_channels, geometry, finite=False)
            # the stream's batch, frame size and device, as an empty (N, 0, 0, H, W) tensor
            self.store_entry(x.new_empty(x.shape[0], 0, 0, *x.shape[3:]))
            try:
                return self.features(x, check_finite=True)
            except ValueError as error:
                if str(error) == NON_FINITE_INPUT:
                    raise ValueError(f'{name}: {NON_FINITE_INPUT}') from None
                raise


def resolve_stream(default: StreamState) -> StreamState:
    """The active stream (``mmeff.stream``), else ``default``."""
    state = active_stream()
    return default if state is None else state


def state_nbytes(state: StreamState) -> int:
    """Bytes held by the tensors of a stream's state."""
    total = 0
    for entry in state.entries():
        values = list(vars(entry).values()) if hasattr(entry, '__dataclass_fields__') else [entry]
        values += [v for value in values if isinstance(value, tuple) for v in value]
        total += sum(v.numel() * v.element_size() for v in values if isinstance(v, Tensor))
    return total


__all__ = ['ARCHS', 'FramePlan', 'MoViNet', 'MoViNetBlock', 'frame_ops', 'make_divisible',
           'resolve_stream', 'state_nbytes']
