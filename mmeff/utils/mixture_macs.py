"""Multiply-adds of a model with CondConv layers, counted as the CondConv paper counts them:
each CondConv layer costs one conv with the mixed kernel plus the mix itself."""
from dataclasses import dataclass
from typing import Tuple

import torch
from torch import Tensor, nn

from ..layers import CondConv2d
from ..ops import dense_conv_macs


@dataclass
class MixtureMacs:
    """Multiply-adds of one forward, by kind (all at the batch of the input).

    - ``conv``: every ``nn.Conv2d`` and every CondConv layer's conv with its mixed kernel;
    - ``mix``: the CondConv kernel mixes, E·|W| per sample and layer (E·C_out for a bias);
    - ``linear``: ``nn.Linear`` layers (CondConv routers, classifiers).

    Pooling, normalisation, activations and elementwise products (squeeze-excitation's scale)
    are not counted, as in the EfficientNet and CondConv papers' MADD counts.
    """
    conv: int = 0
    mix: int = 0
    linear: int = 0

    @property
    def total(self) -> int:
        return self.conv + self.mix + self.linear


def cond_conv_macs(layer: CondConv2d, output: Tensor) -> Tuple[int, int]:
    """(conv, mix) multiply-adds of one call of ``layer`` that gave ``output`` (B, C_out, H, W):
    the conv with the mixed kernel, and the mix of E kernels (and biases) per sample."""
    conv = dense_conv_macs(layer.experts()[0], output.shape[:1] + output.shape[2:])
    bias = 0 if layer.bias is None else layer.bias.numel()
    return conv, output.shape[0] * (layer.weight.numel() + bias)


def count_mixture_macs(model: nn.Module, *inputs: Tensor) -> MixtureMacs:
    """Run ``model(*inputs)`` without gradients and count its multiply-adds
    (:class:`MixtureMacs`) through forward hooks, removed afterwards."""
    counts = MixtureMacs()

    def count(module: nn.Module, args: Tuple, output: Tensor) -> None:
        batch = output.shape[0]
        if isinstance(module, CondConv2d):
            conv, mix = cond_conv_macs(module, output)
            counts.conv += conv
            counts.mix += mix
        elif isinstance(module, nn.Conv2d):
            counts.conv += dense_conv_macs(module.weight, output.shape[:1] + output.shape[2:])
        else:
            counts.linear += batch * module.in_features * module.out_features

    handles = [
        m.register_forward_hook(count) for m in model.modules()
        if isinstance(m, (CondConv2d, nn.Conv2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return counts
