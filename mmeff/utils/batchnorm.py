"""BatchNorm folding: an eval-mode BatchNorm that follows a conv, folded into the conv's weight
and bias.

``fold_batchnorms(model)`` folds every such pair it recognises structurally:

* mmcv ``ConvModule`` (``conv`` then ``norm``),
* ``nn.Sequential`` children ``Conv2d`` immediately followed by ``BatchNorm2d``,
* the ``convK`` / ``normK`` attribute pairs of OpenMMLab residual blocks and stems
  (ResNet, HRNet, ...),

and, with ``include_3d``, the same pairs of ``Conv3d`` and ``BatchNorm3d``. The folded norm is
replaced by ``nn.Identity``.
"""
from typing import Optional, Tuple

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
