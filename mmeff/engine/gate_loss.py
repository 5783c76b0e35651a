"""The gate MAC loss of Skip-Convolutions (Habibian et al., CVPR 2021, eq. for L_gate).

    L_gate = beta * mean_t sum_l (m_l / M) * E[g_l,t]

m_l: dense MACs of layer l per frame, M = sum_l m_l, E[g_l,t]: the firing rate of layer l's
gate on frame t (t >= 1 of each clip), as left by the last training forward pass inside
``mmeff.training_clip``. Layers without a trainable gate run densely and count as always
firing (a constant: they carry no gradient). The result is the expected share of the model's
MACs executed per residual frame, times beta: a differentiable tensor for mmengine's loss dict.
"""
import torch
from torch import Tensor, nn

from ..layers import SkipConv2d


def skipconv_gate_loss(model: nn.Module, beta: float = 1.0) -> Tensor:
    """The gate MAC loss of the last training forward pass of ``model``."""
    layers = [m for m in model.modules() if isinstance(m, SkipConv2d)]
    if not layers:
        raise ValueError('skipconv_gate_loss: the model has no SkipConv2d layer')
    total = sum(layer.dense_macs for layer in layers)
    if total == 0:
        raise RuntimeError('skipconv_gate_loss: run a training forward pass first')
    terms = [
        layer.dense_macs / total * (layer.gate_usage if layer.gate_usage is not None else 1.0)
        for layer in layers
    ]
    loss = sum(terms)
    if not torch.is_tensor(loss):
        loss = torch.tensor(float(loss), device=layers[0].weight.device)
    return beta * loss
