"""Structured sparsity schemes of RT3D (Niu, Sun et al., AAAI 2021) for ``nn.Conv3d``.

A Conv3d weight W (M, N, Kt, Kh, Kw) splits into kernel groups of g_M output x g_N input
channels (the ``group_size``); K = Kt·Kh·Kw is the number of kernel positions. The schemes:

- ``'filter'``: whole output channels W[m] are kept or removed (the group size is unused);
- ``'vanilla'``: whole kernel groups W[G_ab] are kept or removed;
- ``'kgs'``: per kernel group a shared mask over the K positions: W[G_ab, p] is kept or removed.

A scheme's *units* are what it keeps or removes: M filters, Ma·Nb groups or Ma·Nb·K
(group, position) pairs, with Ma = ceil(M / g_M), Nb = ceil(N / g_N). A ratio r removes the
round(r·units) units of smallest L2 norm. Channel counts that the group size does not divide
need ``pad=True``: the last group then holds fewer channels (the zero padding of the paper's
``ZeroPad2d``, which adds nothing to a norm).

A pruned conv carries its mask as the bool buffer ``weight_mask`` (the weight's shape, in the
state dict), and ``weight_mask_group_size`` (int64 (2,): g_M, g_N).
"""
import math
import numbers
from typing import Dict, Iterator, List, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

SCHEMES = ('filter', 'vanilla', 'kgs')
MASK = 'weight_mask'
MASK_GROUP_SIZE = 'weight_mask_group_size'


def check_scheme(scheme: str) -> str:
    """``scheme`` if it is one of :data:`SCHEMES`, else ``ValueError``."""
    if scheme not in SCHEMES:
        raise ValueError(f'scheme must be one of {SCHEMES}, got {scheme!r}')
    return scheme


def check_ratio(ratio: float) -> float:
    """``ratio`` as a float if it lies in [0, 1), else ``ValueError``."""
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) or not 0 <= ratio < 1:
        raise ValueError(f'ratio must be a number in [0, 1), got {ratio!r}')
    return float(ratio)


def check_group_size(group_size: Sequence[int]) -> Tuple[int, int]:
    """(g_M, g_N) as ints >= 1, else ``ValueError``."""
    pair = tuple(group_size) if isinstance(group_size, (tuple, list)) else (group_size, ) * 2
    if len(pair) != 2 or any(
            isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in pair):
        raise ValueError(f'group_size must be an int or a pair of ints >= 1, got {group_size!r}')
    return int(pair[0]), int(pair[1])


def check_prunable(module: nn.Module) -> nn.Conv3d:
    """``module`` if the schemes apply to it: an ``nn.Conv3d`` (also the ``conv_s`` and
    ``conv_t`` of mmaction2's ``Conv2plus1d``) without channel groups; else ``TypeError``."""
    if not isinstance(module, nn.Conv3d):
        raise TypeError('kernel-group pruning supports nn.Conv3d (and the Conv3d parts of '
                        f'Conv2plus1d), got {type(module).__name__}')
    if module.groups != 1:
        raise TypeError(f'kernel-group pruning needs groups=1, got a Conv3d with groups='
                        f'{module.groups}')
    return module


def group_counts(weight_shape: Sequence[int], group_size: Tuple[int, int],
                 pad: bool) -> Tuple[int, int]:
    """(Ma, Nb): kernel groups along the output and input channels. ``ValueError`` naming
    ``group_size`` when it does not divide the channels and ``pad`` is False."""
    (m, n), (gm, gn) = weight_shape[:2], group_size
    if not pad and (m % gm or n % gn):
        raise ValueError(f'group_size {group_size} does not divide the weight\'s channels '
                         f'({m} out, {n} in); pass pad=True to pad the last groups')
    return math.ceil(m / gm), math.ceil(n / gn)


def grouped_weight(weight: Tensor, group_size: Tuple[int, int], pad: bool = False) -> Tensor:
    """(M, N, Kt, Kh, Kw) -> (Ma, g_M, Nb, g_N, K), zero-padded to whole groups.
    Differentiable: norms of it carry gradients to ``weight``."""
    ma, nb = group_counts(weight.shape, group_size, pad)
    (m, n), (gm, gn) = weight.shape[:2], group_size
    flat = weight.reshape(m, n, -1)
    flat = nn.functional.pad(flat, (0, 0, 0, nb * gn - n, 0, ma * gm - m))
    return flat.reshape(ma, gm, nb, gn, flat.shape[-1])


def unit_norms(weight: Tensor, scheme: str, group_size: Sequence[int] = (8, 8),
               pad: bool = False) -> Tensor:
    """L2 norm of each unit of ``scheme``: (M,) for filter, (Ma, Nb) for vanilla,
    (Ma, Nb, K) for kgs. Differentiable (the group-lasso penalty sums these)."""
    check_scheme(scheme)
    if scheme == 'filter':
        return torch.linalg.vector_norm(weight.reshape(weight.shape[0], -1), dim=1)
    grouped = grouped_weight(weight, check_group_size(group_size), pad)
    return torch.linalg.vector_norm(grouped, dim=(1, 3, 4) if scheme == 'vanilla' else (1, 3))


def keep_largest(scores: Tensor, ratio: float) -> Tensor:
    """Bool of ``scores``' shape: False on the round(ratio·numel) smallest scores (ties broken
    by position), True elsewhere."""
    pruned = round(check_ratio(ratio) * scores.numel())
    keep = torch.ones(scores.numel(), dtype=torch.bool, device=scores.device)
    keep[torch.sort(scores.detach().flatten(), stable=True).indices[:pruned]] = False
    return keep.view(scores.shape)


def expand_unit_mask(keep: Tensor, scheme: str, weight_shape: Sequence[int],
                     group_size: Sequence[int] = (8, 8)) -> Tensor:
    """A unit mask of :func:`unit_norms`' shape -> the bool mask of a weight of
    ``weight_shape`` (M, N, Kt, Kh, Kw)."""
    m, n, *kernel = weight_shape
    if check_scheme(scheme) == 'filter':
        return keep.view(m, 1, 1, 1, 1).expand(m, n, *kernel).clone()
    gm, gn = check_group_size(group_size)
    per_position = keep if scheme == 'kgs' else keep.unsqueeze(-1).expand(
        *keep.shape, math.prod(kernel))
    full = per_position.repeat_interleave(gm, 0).repeat_interleave(gn, 1)[:m, :n]
    return full.reshape(m, n, *kernel).contiguous()


def kernel_group_mask(weight: Tensor, scheme: str, ratio: float, group_size: Sequence[int] = (8, 8),
                      pad: bool = False) -> Tensor:
    """The bool mask (weight's shape) that removes ``ratio`` of ``scheme``'s units, those of
    smallest L2 norm."""
    check_ratio(ratio)
    group_size = check_group_size(group_size)
    norms = unit_norms(weight.detach(), scheme, group_size, pad)
    return expand_unit_mask(keep_largest(norms, ratio), scheme, weight.shape, group_size)


def attach_mask(conv: nn.Conv3d, mask: Tensor, group_size: Sequence[int] = (8, 8)) -> None:
    """Store ``mask`` (bool, the weight's shape) in ``conv``'s buffers and zero the weights it
    removes."""
    check_prunable(conv)
    if mask.dtype != torch.bool or mask.shape != conv.weight.shape:
        raise ValueError(f'mask must be bool of the weight\'s shape {tuple(conv.weight.shape)}, '
                         f'got {mask.dtype} {tuple(mask.shape)}')
    conv.register_buffer(MASK, mask.to(conv.weight.device))
    conv.register_buffer(MASK_GROUP_SIZE, torch.tensor(check_group_size(group_size)))
    apply_mask(conv)


def prune_conv(conv: nn.Module, scheme: str, ratio: float, group_size: Sequence[int] = (8, 8),
               pad: bool = False) -> Tensor:
    """Prune ``conv`` in place to ``ratio`` of ``scheme``'s units; returns the mask."""
    mask = kernel_group_mask(check_prunable(conv).weight, scheme, ratio, group_size, pad)
    attach_mask(conv, mask, group_size)
    return mask


@torch.no_grad()
def apply_mask(conv: nn.Module) -> None:
    """Zero the weights (and the gradient, when there is one) that ``conv``'s mask removes."""
    mask = getattr(conv, MASK)
    conv.weight.mul_(mask)
    if conv.weight.grad is not None:
        conv.weight.grad.mul_(mask)


def masked_convs(model: nn.Module) -> Iterator[Tuple[str, nn.Conv3d]]:
    """(name, conv) of every module of ``model`` that carries a ``weight_mask``."""
    for name, module in model.named_modules():
        if isinstance(getattr(module, MASK, None), Tensor):
            yield name, module


def restore_masks(model: nn.Module, state_dict: dict) -> List[str]:
    """Attach the masks that ``state_dict`` (a pruned model's) holds to ``model``'s convs and
    zero the weights they remove; returns the module names. Restores a pruned checkpoint into a
    fresh model, whose convs have no mask buffers for ``load_state_dict`` to fill."""
    modules = dict(model.named_modules())
    suffix = '.' + MASK
    restored = []
    for key, mask in state_dict.items():
        name = key[:-len(suffix)] if key.endswith(suffix) else None
        if name in modules:
            group_size = state_dict.get(f'{name}.{MASK_GROUP_SIZE}', torch.tensor([8, 8]))
            attach_mask(modules[name], mask.bool(), tuple(group_size.tolist()))
            restored.append(name)
    return restored


def prune_model(model: nn.Module, scheme: str, ratios: Union[float, Dict[str, float]],
                group_size: Sequence[int] = (8, 8), pad: bool = False) -> Dict[str, Tensor]:
    """Prune convs of ``model`` in place; returns their masks by module name.

    Args:
        scheme: one of :data:`SCHEMES`.
        ratios: one ratio for every ``nn.Conv3d`` of the model, or {module name: ratio}
            (each named module must be a prunable conv).
        group_size, pad: as for :func:`kernel_group_mask`.
    """
    modules = dict(model.named_modules())
    if isinstance(ratios, dict):
        unknown = sorted(set(ratios) - set(modules))
        if unknown:
            raise ValueError(f'ratios name modules the model does not have: {unknown}')
        targets = {name: (modules[name], ratio) for name, ratio in ratios.items()}
    else:
        targets = {
            name: (module, ratios)
            for name, module in modules.items() if isinstance(module, nn.Conv3d)
        }
    return {
        name: prune_conv(module, scheme, ratio, group_size, pad)
        for name, (module, ratio) in targets.items()
    }
