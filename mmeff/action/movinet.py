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

The per-frame path of the stream model (one op per block) is in :mod:`.movinet_frame`.
"""
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmaction.registry import MODELS
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..layers import CausalSqueezeExcitation, StreamStateful
from ..layers.framewise_avg_pool import FramewiseAvgPool
from ..layers.stream_state import check_stream_input, stream_transaction
from ..ops.errors import NonFiniteError
from ..ops.stem_conv2d import NON_FINITE_INPUT
from .movinet_frame import FramePlan, frame_conv_module, run_block_frame, streams_frame_ops

Kernel = Tuple[int, int, int]
K13: Kernel = (1, 3, 3)
K15: Kernel = (1, 5, 5)
K33: Kernel = (3, 3, 3)
K53: Kernel = (5, 3, 3)

#: arch -> stem channels, stages of (out channels, layers of (expand, kernel, spatial stride)),
#: projection channels, classifier hidden width (published BLOCK_SPECS).
ARCHS: Dict[str, dict] = {
    'a0':
    dict(
        stem=8, stages=[(8, [(24, K15, 2)]), (32, [(80, K33, 2), (80, K33, 1), (80, K33, 1)]),
                        (56, [(184, K53, 2), (112, K33, 1), (184, K33, 1)]),
                        (56, [(184, K53, 1), (184, K33, 1), (184, K33, 1), (184, K33, 1)]),
                        (104, [(384, K53, 2), (280, K15, 1), (280, K15, 1), (344, K15, 1)])],
        project=480, head=2048),
    'a1':
    dict(
        stem=16, stages=[(16, [(40, K15, 2), (40, K33, 1)]),
                         (40, [(96, K33, 2), (120, K33, 1), (96, K33, 1), (96, K33, 1)]),
                         (64, [(216, K53, 2), (128, K33, 1), (216, K33, 1), (168, K33, 1),
                               (216, K33, 1)]),
                         (64, [(216, K53, 1), (216, K33, 1), (216, K33, 1), (128, K33, 1),
                               (128, K15, 1), (216, K33, 1)]),
                         (136, [(456, K53, 2), (360, K15, 1), (360, K15, 1), (360, K15, 1),
                                (456, K15, 1), (456, K33, 1), (544, K13, 1)])], project=600,
        head=2048),
    'a2':
    dict(
        stem=16,
        stages=[(16, [(40, K15, 2), (40, K33, 1), (64, K33, 1)]),
                (40, [(96, K33, 2), (120, K33, 1), (96, K33, 1), (96, K33, 1), (120, K33, 1)]),
                (72, [(240, K53, 2), (160, K33, 1), (240, K33, 1), (192, K33, 1), (240, K33, 1)]),
                (72, [(240, K53, 1), (240, K33, 1), (240, K33, 1), (240, K33, 1), (144, K15, 1),
                      (240, K33, 1)]),
                (144, [(480, K53, 2), (384, K15, 1), (384, K15, 1), (480, K15, 1), (480, K15, 1),
                       (480, K33, 1), (576, K13, 1)])], project=640, head=2048),
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
            groups=channels, conv_cfg=dict(
                type='StreamBufferConv3d' if streamed else 'FramewiseConv3d' if temporal ==
                1 else 'Conv3d'), norm_cfg=norm_cfg, act_cfg=act_cfg)

    if conv_type == '3d' or kt == 1:
        return [conv(kernel, spatial_stride)]
    return [conv((1, kh, kw), spatial_stride), conv((kt, 1, 1), 1)]


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
            causal=causal, position_encoding=position_encoding, act_cfg=act_cfg, gate_cfg=gate_cfg)
        self.project = ConvModule(expand_channels, out_channels, 1, conv_cfg=pointwise,
                                  norm_cfg=norm_cfg, act_cfg=None)
        self.rezero = nn.Parameter(torch.tensor(float(rezero_init)))
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        shortcut: List[nn.Module] = []
        if spatial_stride > 1:
            shortcut.append(FramewiseAvgPool())
        if in_channels != out_channels:
            shortcut.append(
                ConvModule(in_channels, out_channels, 1, conv_cfg=pointwise, norm_cfg=norm_cfg,
                           act_cfg=None))
        self.shortcut = nn.Sequential(*shortcut)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[2] == 1 and streams_frame_ops(self):
            plan = self.frame_plan()
            if plan is not None:
                return run_block_frame(self, x, plan)
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

    def __init__(self, arch: Union[str, dict] = 'a0', causal: bool = False,
                 conv_type: Optional[str] = None, position_encoding: bool = False,
                 in_channels: int = 3, norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None, gate_cfg: Optional[dict] = None,
                 drop_path_rate: float = 0., rezero_init: float = 0.,
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
                blocks.append(
                    MoViNetBlock(channels, out_channels, expand, tuple(kernel), stride, causal,
                                 conv_type, position_encoding, norm_cfg, act_cfg, gate_cfg,
                                 drop_path_rate * index / num_blocks, rezero_init))
                channels = out_channels
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.project = ConvModule(channels, spec['project'], 1, conv_cfg=framewise,
                                  norm_cfg=norm_cfg, act_cfg=act_cfg)
        for module in self.modules():  # forward() checks the input once for NaN/Inf
            if hasattr(module, 'check_finite'):
                module.check_finite = False

    def features(self, x: Tensor, check_finite: bool = False) -> Tensor:
        """The network itself, without stream handling; ``check_finite``: reject NaN/Inf in
        ``x`` (ValueError; single frames in inference check in the stem op's pass)."""
        if x.shape[2] == 1 and streams_frame_ops(self):
            stem = frame_conv_module(self.stem, x, check_finite=check_finite)
            return frame_conv_module(self.project, self.stages(stem))
        if check_finite and not torch.isfinite(x.sum()):
            raise NonFiniteError(NON_FINITE_INPUT)
        return self.project(self.stages(self.stem(x)))

    def forward(self, x: Tensor) -> Tensor:
        name = type(self).__name__
        weight = self.stem.conv.weight
        if x.dtype != weight.dtype:
            raise ValueError(f'{name}: the input is {x.dtype}, the model {weight.dtype}; convert '
                             f'the input (x.to({weight.dtype})) or the model')
        if not self.causal:
            check_stream_input(name, x, self.in_channels, None)
            return self.features(x)
        with stream_transaction(self.current_stream()):
            geometry: Optional[Tensor] = self.load_entry()
            check_stream_input(name, x, self.in_channels, geometry, finite=False)
            # the stream's batch, frame size and device, as an empty (N, 0, 0, H, W) tensor
            self.store_entry(x.new_empty(x.shape[0], 0, 0, *x.shape[3:]))
            try:
                features = self.features(x, check_finite=True)
            except NonFiniteError:
                raise NonFiniteError(f'{name}: {NON_FINITE_INPUT}') from None
            if not torch.isfinite(features.sum()):  # an overflow inside: nothing is committed
                raise NonFiniteError(f'{name}: the network produced NaN or Inf from a finite '
                                     "input; it was rejected and the stream's state is unchanged")
            return features


__all__ = ['ARCHS', 'MoViNet', 'MoViNetBlock', 'make_divisible']
