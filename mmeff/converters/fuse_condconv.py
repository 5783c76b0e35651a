"""``fuse_condconv``: CondConv layers as static convs for a fixed routing (deployment)."""
from typing import Dict, Union

import torch
from torch import Tensor, nn

from ..layers import CondConv2d

Routing = Union[Tensor, Dict[str, Tensor]]


def fused_conv(layer: CondConv2d, routing: Tensor) -> nn.Conv2d:
    """The ``nn.Conv2d`` that equals ``layer(x, routing)`` for every x.

    Args:
        layer: the CondConv layer.
        routing: (E,) or (1, E), the fixed expert weights.
    """
    routing = routing.reshape(-1)
    if routing.shape != (layer.num_experts, ):
        raise ValueError(f'fuse_condconv: routing must have {layer.num_experts} expert weights, '
                         f'got shape {tuple(routing.shape)}')
    conv = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                     layer.padding, layer.dilation, layer.groups, layer.bias is not None,
                     device=layer.weight.device, dtype=layer.weight.dtype)
    with torch.no_grad():
        routing = routing.to(layer.weight)
        conv.weight.copy_((routing @ layer.weight).view(layer.expert_shape))
        if layer.bias is not None:
            conv.bias.copy_(routing @ layer.bias)
    return conv


def fuse_condconv(layer_or_model: nn.Module, routing: Routing) -> nn.Module:
    """Replace CondConv layers by static convs for a known routing.

    Args:
        layer_or_model: a :class:`~mmeff.layers.CondConv2d` (its fused ``nn.Conv2d`` is
            returned), or a model whose CondConv layers are replaced in place (the model is
            returned).
        routing: the (E,) or (1, E) expert weights of every layer, or a dict from a layer's
            name in ``named_modules()`` to its weights; a dict must name every CondConv layer.
            The fused layer ignores routings passed at run time, so a block that shares its
            router should be fused with that router's output for the fixed input.
    """
    if isinstance(layer_or_model, CondConv2d):
        if isinstance(routing, dict):
            raise ValueError('fuse_condconv: give one routing tensor for a single layer')
        return fused_conv(layer_or_model, routing)
    layers = {name: m for name, m in layer_or_model.named_modules() if isinstance(m, CondConv2d)}
    if isinstance(routing, dict) and set(routing) != set(layers):
        raise ValueError('fuse_condconv: routing must name exactly the CondConv layers '
                         f'{sorted(layers)}, got {sorted(routing)}')
    for name, layer in layers.items():
        parent_name, _, child = name.rpartition('.')
        parent = layer_or_model.get_submodule(parent_name)
        setattr(parent, child,
                fused_conv(layer, routing[name] if isinstance(routing, dict) else routing))
    return layer_or_model
