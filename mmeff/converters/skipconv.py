"""Convert any model's convolutions to SkipConv2d.

``convert_to_skipconv(model)`` replaces every ``nn.Conv2d`` (inside mmcv ``ConvModule``\\ s,
depthwise and strided ones included) by a :class:`~mmeff.layers.SkipConv2d` with the same
weights. With ``fuse_bn=True`` it first folds each eval-mode ``BatchNorm2d`` that directly
follows a conv into that conv (:func:`mmeff.utils.fold_batchnorms`), so the gate sees the real
output scale and the network runs one pass less per layer. The converted model runs every
call in eval mode as one stream transaction (:func:`mmeff.layers.atomic_frames`): a frame that
any layer rejects, or whose output overflows, leaves every layer's stream as it was.
"""
import copy
from typing import Iterable, Optional

from torch import nn

from ..layers import SkipConv2d, atomic_frames
from ..utils.batchnorm import fold_batchnorms


def _skipconv_from(conv: nn.Conv2d, gate: dict, reference: str) -> SkipConv2d:
    layer = SkipConv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                       padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                       bias=conv.bias is not None, gate=copy.deepcopy(gate), reference=reference,
                       device=conv.weight.device, dtype=conv.weight.dtype)
    # The conv's parameters; a trainable gate keeps its own initialisation.
    incompatible = layer.load_state_dict(conv.state_dict(), strict=False)
    assert not incompatible.unexpected_keys, incompatible
    assert all(k.startswith('gate.') for k in incompatible.missing_keys), incompatible
    layer.train(conv.training)
    return layer


def convert_to_skipconv(model: nn.Module, gate: Optional[dict] = None, skip: Iterable[str] = (),
                        fuse_bn: bool = True, reference: str = 'accumulated',
                        atomic: bool = True) -> nn.Module:
    """Replace every ``nn.Conv2d`` of ``model`` by a ``SkipConv2d`` with the same weights.

    Args:
        model: any module; converted in place and returned.
        gate: gate config for every converted layer (default ``InputNormGate``, threshold 0).
        skip: qualified module names (or prefixes) of convs to leave dense.
        fuse_bn: fold eval-mode BatchNorm2d layers into the preceding convs first.
        reference: 'accumulated' (drift-free) or 'previous' (the paper's).
        atomic: run every eval-mode call of ``model`` as one stream transaction
            (:func:`~mmeff.layers.atomic_frames`); False: each layer takes or rejects a frame
            on its own.
    """
    gate = gate if gate is not None else dict(type='InputNormGate', threshold=0.0)
    skip = tuple(skip)
    if fuse_bn:
        fold_batchnorms(model)
    for name, module in list(model.named_modules()):
        for child_name, child in list(module._modules.items()):
            qualified = f'{name}.{child_name}' if name else child_name
            if type(child) is not nn.Conv2d or any(qualified == s or qualified.startswith(s + '.')
                                                   for s in skip):
                continue
            if child.padding_mode != 'zeros' or isinstance(child.padding, str):
                continue  # SkipConv2d needs explicit zero padding; leave such convs dense
            module._modules[child_name] = _skipconv_from(child, gate, reference)
    return atomic_frames(model) if atomic else model
