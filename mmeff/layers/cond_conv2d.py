"""``CondConv2d``: a conv whose kernel is a per-sample mix of E expert kernels, usable as an
mmcv ``conv_cfg`` (``dict(type='CondConv2d', num_experts=8)``) in any backbone that builds its
convs with ``build_conv_layer``."""
import math
from typing import Optional, Tuple, Union

import torch
from torch import Tensor, nn

from ..ops.cond_conv2d import cond_conv2d_checked_geometry
from ..ops.extension import conv_geometry
from ..registry import MODELS
from .cond_conv_router import CondConvRouter

IntPair = Union[int, Tuple[int, int]]

#: Where a layer's routing weights come from: its own router with CondConv's sigmoid gate or
#: DynamicConv's softmax gate, or the caller (``forward(x, routing)``, no router of its own).
ROUTING_MODES = ('sigmoid', 'softmax', 'external')


def layout_hint(weight: Tensor, expected: Tuple[int, int]) -> str:
    """What a weight of the wrong shape probably is, for the load error."""
    if weight.dim() == 5 and tuple(weight.shape[:1]) + (math.prod(weight.shape[1:]), ) == expected:
        return ': per-expert (E, C_out, C_in/groups, kh, kw) kernels, flatten(1) them'
    if weight.dim() == 4:
        return ": a static conv's (C_out, C_in/groups, kh, kw) kernel, not a CondConv one"
    return ''


@MODELS.register_module()
class CondConv2d(nn.Module):
    """CondConv (Yang et al., 2019): ``y[b] = conv(x[b], Σ_e r[b,e]·W_e) + Σ_e r[b,e]·b_e``.

    Parameters are in timm's layout, so a ``timm.layers.CondConv2d`` state dict loads
    unchanged (``routing='external'`` has exactly its keys; the other modes add the router's
    ``router.fc.*``):

    - ``weight``: (E, C_out·C_in/groups·kh·kw), each row an expert's OIHW kernel flattened;
    - ``bias``: (E, C_out), or None.

    Each expert is initialised like an ``nn.Conv2d`` of that shape (timm's initialisation).

    Routing: ``forward(x, routing)`` uses the given (B, E) weights, which is how a block
    shares one router among its convs. ``forward(x)`` uses the layer's own
    :class:`CondConvRouter` on ``x``, which makes the layer a drop-in ``conv_cfg``.

    Execution: :func:`mmeff.ops.cond_conv2d` (the compiled kernel in inference, the
    batch-folded-into-groups reference under autograd).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias: as in
            ``nn.Conv2d`` (zero padding, int or pair).
        num_experts: E >= 1.
        routing: one of :data:`ROUTING_MODES`.
        temperature: the softmax router's starting temperature.

    Shape:
        x (B, C_in, H, W), routing (B, E) -> (B, C_out, H_out, W_out).
    """
    transposed = False
    output_padding = (0, 0)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair,
                 stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1,
                 bias: bool = True, num_experts: int = 8, routing: str = 'sigmoid',
                 temperature: float = 1.0):
        super().__init__()
        if isinstance(num_experts, bool) or not isinstance(num_experts, int) or num_experts < 1:
            raise ValueError(f'CondConv2d: num_experts must be an int >= 1, got {num_experts!r}')
        if routing not in ROUTING_MODES:
            raise ValueError(f'CondConv2d: routing must be one of {ROUTING_MODES}, got '
                             f'{routing!r}')
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f'CondConv2d: groups={groups} must divide in_channels '
                             f'({in_channels}) and out_channels ({out_channels})')
        self.kernel_size, _, _ = conv_geometry('CondConv2d', kernel_size, 0)
        self.stride, self.padding, self.dilation = conv_geometry('CondConv2d', stride, padding,
                                                                 dilation)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.groups, self.num_experts = groups, num_experts
        self.experts_shape = (num_experts, *self.expert_shape)
        self.weight = nn.Parameter(torch.empty(num_experts, math.prod(self.expert_shape)))
        self.bias = nn.Parameter(torch.empty(num_experts, out_channels)) if bias else None
        self.router = None if routing == 'external' else CondConvRouter(
            in_channels, num_experts, routing, temperature)
        self.reset_parameters()

    @property
    def expert_shape(self) -> Tuple[int, int, int, int]:
        """One expert's kernel: (C_out, C_in/groups, kh, kw)."""
        return (self.out_channels, self.in_channels // self.groups, *self.kernel_size)

    def reset_parameters(self) -> None:
        """Each expert as ``nn.Conv2d`` initialises its weight and bias (timm's init)."""
        fan_in = math.prod(self.expert_shape[1:])
        for e in range(self.num_experts):
            nn.init.kaiming_uniform_(self.weight[e].view(self.expert_shape), a=math.sqrt(5))
            if self.bias is not None:
                nn.init.uniform_(self.bias[e], -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        if self.router is not None:
            self.router.fc.reset_parameters()

    def init_weights(self) -> None:
        """What mmcv's ``ConvModule`` and mmengine's ``BaseModule`` call to initialise a conv:
        the per-expert init (their default Kaiming init would treat the (E, P) matrix as one
        kernel)."""
        self.reset_parameters()

    def experts(self) -> Tensor:
        """The weight as (E, C_out, C_in/groups, kh, kw), a view."""
        return self.weight.view(self.experts_shape)

    def resolve_routing(self, x: Tensor, routing: Optional[Tensor]) -> Tensor:
        """``routing`` if given, else the layer's own router on ``x``; (B, E)."""
        if routing is None:
            if self.router is None:
                raise ValueError(f"{type(self).__name__}: routing='external' needs the routing "
                                 'weights: call forward(x, routing) with routing of shape (B, E)')
            routing = self.router(x)
        return routing

    def forward(self, x: Tensor, routing: Optional[Tensor] = None) -> Tensor:
        routing = self.resolve_routing(x, routing)
        return cond_conv2d_checked_geometry(x, self.experts(), self.bias, routing, self.stride,
                                            self.padding, self.dilation, self.groups)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        weight = state_dict.get(prefix + 'weight')
        expected = (self.num_experts, math.prod(self.expert_shape))
        if weight is not None and tuple(weight.shape) != expected:
            raise ValueError(f"CondConv2d: {prefix}weight must be in timm's layout (E, "
                             f'C_out*C_in/groups*kh*kw) = {expected}, got {tuple(weight.shape)}'
                             f'{layout_hint(weight, expected)}')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'stride={self.stride}, padding={self.padding}, dilation={self.dilation}, '
                f'groups={self.groups}, bias={self.bias is not None}, '
                f'num_experts={self.num_experts}')
