"""Convert any model's convolutions to SkipConv2d.

``convert_to_skipconv(model)`` replaces every ``nn.Conv2d`` (inside mmcv ``ConvModule``\\ s,
depthwise and strided ones included) by a :class:`~mmeff.layers.SkipConv2d` with the same
weights. With ``fuse_bn=True`` it first folds each eval-mode ``BatchNorm2d`` that directly
follows a conv into that conv, so the gate sees the real output scale and the network runs one
pass less per layer. Folding is structural; it recognises

* mmcv ``ConvModule`` (``conv`` then ``norm``),
* ``nn.Sequential`` children ``Conv2d`` immediately followed by ``BatchNorm2d``,
* the ``convK`` / ``normK`` attribute pairs of OpenMMLab residual blocks and stems
  (ResNet, HRNet, ...).
"""
import copy
from typing import Iterable, Optional, Tuple

import torch
from torch import Tensor, nn

from ..layers import SkipConv2d


def batchnorm_scale_shift(bn: nn.Module) -> Tuple[Tensor, Tensor]:
    """(scale, shift), each (C,), of an eval-mode BatchNorm: ``bn(x) = scale * x + shift`` per
    channel, from its current statistics."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else \
        1 / torch.sqrt(bn.running_var + bn.eps)
    return scale, (bn.bias if bn.affine else 0) - bn.running_mean * scale


def fold_batchnorm(conv: nn.Module, bn: nn.Module) -> None:
    """Fold an eval-mode ``bn`` that follows ``conv`` into ``conv`` (in place); 2D or 3D."""
    with torch.no_grad():
        scale, shift = batchnorm_scale_shift(bn)
        conv.weight.mul_(scale.view(-1, *[1] * (conv.weight.dim() - 1)))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        new_bias = bias * scale + shift
        if conv.bias is None:
            conv.bias = nn.Parameter(new_bias)
        else:
            conv.bias.copy_(new_bias)


def _foldable(conv: nn.Module, bn: Optional[nn.Module], include_3d: bool = False) -> bool:
    pair_2d = (type(conv) is nn.Conv2d or isinstance(conv, SkipConv2d)) and isinstance(
        bn, nn.BatchNorm2d)
    # every Conv3d (StreamBufferConv3d, FramewiseConv3d included: per-channel affine after the
    # conv folds exactly, buffered inputs are unaffected)
    pair_3d = include_3d and isinstance(conv, nn.Conv3d) and isinstance(bn, nn.BatchNorm3d)
    return (pair_2d or pair_3d) and not bn.training and bn.track_running_stats and \
        bn.num_features == conv.out_channels


def _replace_norm(module: nn.Module, name: str) -> None:
    setattr(module, name, nn.Identity())


def fold_batchnorms(model: nn.Module, include_3d: bool = False) -> int:
    """Fold every recognised eval-mode conv -> BatchNorm2d pair (and Conv3d -> BatchNorm3d
    pairs if ``include_3d``); returns how many."""
    folded = 0
    for module in list(model.modules()):
        # mmcv ConvModule: conv, then norm (order ('conv', 'norm', 'act')).
        norm_name = getattr(module, 'norm_name', None)
        if isinstance(norm_name, str) and hasattr(module, 'conv') and \
                getattr(module, 'order', ('conv', 'norm'))[:2] == ('conv', 'norm') and \
                _foldable(module.conv, getattr(module, norm_name, None), include_3d):
            fold_batchnorm(module.conv, getattr(module, norm_name))
            _replace_norm(module, norm_name)
            folded += 1
            continue
        # OpenMMLab blocks: convK followed by normK (normK is a property over its real name).
        for k in range(1, 4):
            conv = getattr(module, f'conv{k}', None)
            real_name = getattr(module, f'norm{k}_name', None)
            if real_name is not None and \
                    _foldable(conv, getattr(module, real_name, None), include_3d):
                fold_batchnorm(conv, getattr(module, real_name))
                _replace_norm(module, real_name)
                folded += 1
        # nn.Sequential: Conv2d immediately followed by BatchNorm2d.
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for first, second in zip(names, names[1:]):
                conv, bn = module._modules[first], module._modules[second]
                if _foldable(conv, bn, include_3d):
                    fold_batchnorm(conv, bn)
                    module._modules[second] = nn.Identity()
                    folded += 1
    return folded


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


def convert_to_skipconv(model: nn.Module,
                        gate: Optional[dict] = None,
                        skip: Iterable[str] = (),
                        fuse_bn: bool = True,
                        reference: str = 'accumulated') -> nn.Module:
    """Replace every ``nn.Conv2d`` of ``model`` by a ``SkipConv2d`` with the same weights.

    Args:
        model: any module; converted in place and returned.
        gate: gate config for every converted layer (default ``InputNormGate``, threshold 0).
        skip: qualified module names (or prefixes) of convs to leave dense.
        fuse_bn: fold eval-mode BatchNorm2d layers into the preceding convs first.
        reference: 'accumulated' (drift-free) or 'previous' (the paper's).
    """
    gate = gate if gate is not None else dict(type='InputNormGate', threshold=0.0)
    skip = tuple(skip)
    if fuse_bn:
        fold_batchnorms(model)
    for name, module in list(model.named_modules()):
        for child_name, child in list(module._modules.items()):
            qualified = f'{name}.{child_name}' if name else child_name
            if type(child) is not nn.Conv2d or any(
                    qualified == s or qualified.startswith(s + '.') for s in skip):
                continue
            if child.padding_mode != 'zeros' or isinstance(child.padding, str):
                continue  # SkipConv2d needs explicit zero padding; leave such convs dense
            module._modules[child_name] = _skipconv_from(child, gate, reference)
    return model
