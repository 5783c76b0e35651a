"""RT3D training as mmengine pieces: reweighted group lasso, hard pruning, masked retraining.

- :class:`GroupLassoOptimWrapper` (``OPTIM_WRAPPERS``) adds a penalty to every loss before the
  backward pass, so the penalty's gradient reaches the live weights.
- :class:`KernelGroupPruningHook` (``HOOKS``) owns the schedule. Until ``prune_epoch`` it gives
  the wrapper the reweighted group-lasso penalty λ Σ_l Σ_g α_lg ‖W_lg‖₂ over the scheme's units
  (:func:`~mmeff.layers.kernel_group_sparsity.unit_norms`) and refreshes
  α_lg = 1 / (‖W_lg‖₂² + ε) every ``reweight_interval`` epochs. At ``prune_epoch`` it prunes the
  layers to their ratios (given, or one ratio derived from a FLOP target) and from then on
  masks weights and gradients after every iteration. Masks live in the convs' state dicts and
  come back on resume; α goes into the checkpoint under :data:`CHECKPOINT_KEY` and comes back
  too.
"""
from typing import Callable, Dict, Optional, Sequence, Union

import torch
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper
from mmengine.registry import HOOKS, OPTIM_WRAPPERS
from torch import Tensor, nn

from ..layers.kernel_group_sparsity import (apply_mask, check_group_size, check_prunable,
                                            check_ratio, check_scheme, masked_convs, prune_model,
                                            restore_masks, unit_norms)

#: The checkpoint entry holding the hook's α (``dict(alphas={conv name: tensor})``).
CHECKPOINT_KEY = 'kernel_group_pruning'


@OPTIM_WRAPPERS.register_module()
class GroupLassoOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that adds ``penalty()`` (a scalar tensor, set by a hook) to the loss."""

    penalty: Optional[Callable[[], Tensor]] = None

    def update_params(self, loss: Tensor, step_kwargs: Optional[Dict] = None,
                      zero_kwargs: Optional[Dict] = None) -> None:
        if self.penalty is not None:
            loss = loss + self.penalty()
        super().update_params(loss, step_kwargs, zero_kwargs)


def group_lasso_penalty(convs: Dict[str, nn.Conv3d], alphas: Dict[str, Tensor], scheme: str,
                        group_size: Sequence[int], pad: bool) -> Tensor:
    """Σ_l Σ_g α_lg ‖W_lg‖₂ on the live weights (differentiable)."""
    terms = [(alphas[name] * unit_norms(conv.weight, scheme, group_size, pad)).sum()
             for name, conv in convs.items()]
    return torch.stack(terms).sum()


@torch.no_grad()
def reweighted_alphas(convs: Dict[str, nn.Conv3d], scheme: str, group_size: Sequence[int],
                      pad: bool, eps: float) -> Dict[str, Tensor]:
    """α_lg = 1 / (‖W_lg‖₂² + eps) of every unit of every conv."""
    return {
        name: 1 / (unit_norms(conv.weight, scheme, group_size, pad).square() + eps)
        for name, conv in convs.items()
    }


def conv_macs(model: nn.Module, input_shape: Sequence[int]) -> Dict[str, int]:
    """MACs of every ``nn.Conv3d`` of ``model`` (by name) on one zero input of
    ``input_shape`` (N, C, T, H, W) passed to ``model`` (or its ``backbone``). The pass runs in
    eval mode, so that it leaves the BN running statistics as they are (a resumed run would
    otherwise shift them again), and every module's mode is restored after it."""
    macs, handles = {}, []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv3d):
            handles.append(
                module.register_forward_hook(lambda m, args, out, name=name: macs.__setitem__(
                    name, out[0].numel() * m.weight[0].numel())))
    target = getattr(model, 'backbone', model)
    param = next(model.parameters())
    modes = {module: module.training for module in target.modules()}
    target.eval()
    try:
        with torch.no_grad():
            target(torch.zeros(*input_shape, dtype=param.dtype, device=param.device))
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training
    return macs


def ratio_for_flop_reduction(macs: Dict[str, int], pruned: Sequence[str],
                             reduction: float) -> float:
    """The one ratio r for the ``pruned`` layers that divides the convs' total MACs by
    ``reduction``: total - r · Σ_pruned = total / reduction. ``ValueError`` when r would
    reach 1."""
    if not reduction >= 1:
        raise ValueError(f'flop_reduction must be >= 1, got {reduction}')
    total, prunable = sum(macs.values()), sum(macs[name] for name in pruned)
    ratio = (total - total / reduction) / max(prunable, 1)
    if ratio >= 1:
        raise ValueError(f'flop_reduction {reduction} is out of reach: the pruned layers hold '
                         f'{prunable / total:.1%} of the conv MACs')
    return ratio


@HOOKS.register_module()
class KernelGroupPruningHook(Hook):
    """RT3D's schedule: reweighted group lasso, hard prune at ``prune_epoch``, masked retrain.

    Args:
        scheme: 'filter', 'vanilla' or 'kgs'.
        ratios: {conv module name: ratio} (names as in ``model.named_modules()``), or one ratio
            for every ``nn.Conv3d``. Ignored for the ratio when ``flop_reduction`` is given
            (then a dict names the layers to prune, a float means all Conv3d).
        group_size: (g_M, g_N).
        pad: pad channels the group size does not divide.
        penalty: λ of the group lasso (0: no reweighted stage). Needs
            ``optim_wrapper=dict(type='GroupLassoOptimWrapper', ...)``.
        reweight_interval: epochs between refreshes of α.
        eps: ε of α = 1 / (‖W‖² + ε).
        prune_epoch: the epoch (0-based) at whose start the hard prune happens.
        flop_reduction: prune all named layers by one ratio that divides the convs' MACs by
            this factor (measured on ``input_shape``).
        input_shape: (N, C, T, H, W) of the MAC count.
    """

    priority = 'NORMAL'

    def __init__(self, scheme: str = 'kgs', ratios: Union[float, Dict[str, float]] = 0.5,
                 group_size: Sequence[int] = (8, 8), pad: bool = True, penalty: float = 0.0,
                 reweight_interval: int = 1, eps: float = 1e-6, prune_epoch: int = 0,
                 flop_reduction: Optional[float] = None,
                 input_shape: Sequence[int] = (1, 3, 16, 112, 112)):
        self.scheme = check_scheme(scheme)
        if not isinstance(ratios, dict):
            check_ratio(ratios)
        else:
            for ratio in ratios.values():
                check_ratio(ratio)
        self.ratios, self.group_size, self.pad = ratios, check_group_size(group_size), pad
        if not penalty >= 0 or reweight_interval < 1 or prune_epoch < 0:
            raise ValueError('penalty must be >= 0, reweight_interval >= 1 and prune_epoch >= 0, '
                             f'got {penalty}, {reweight_interval}, {prune_epoch}')
        self.penalty, self.reweight_interval, self.eps = penalty, reweight_interval, eps
        self.prune_epoch, self.flop_reduction = prune_epoch, flop_reduction
        self.input_shape = tuple(input_shape)
        self.alphas: Dict[str, Tensor] = {}
        self.masked_grads: Dict[int, object] = {}  # id(weight) -> its gradient hook's handle

    def targets(self, model: nn.Module) -> Dict[str, nn.Conv3d]:
        """The convs this hook prunes, by name (``TypeError`` for a named unsupported layer)."""
        modules = dict(model.named_modules())
        if isinstance(self.ratios, dict):
            unknown = sorted(set(self.ratios) - set(modules))
            if unknown:
                raise ValueError(f'ratios name modules the model does not have: {unknown}')
            return {name: check_prunable(modules[name]) for name in self.ratios}
        return {name: m for name, m in modules.items() if isinstance(m, nn.Conv3d)}

    def layer_ratios(self, model: nn.Module) -> Dict[str, float]:
        names = list(self.targets(model))
        if self.flop_reduction is not None:
            ratio = ratio_for_flop_reduction(conv_macs(model, self.input_shape), names,
                                             self.flop_reduction)
            return {name: ratio for name in names}
        if isinstance(self.ratios, dict):
            return dict(self.ratios)
        return {name: self.ratios for name in names}

    def before_train(self, runner) -> None:
        model = self.unwrap(runner.model)
        self.layer_ratios(model)  # bad names, layer types or FLOP targets fail here, at once
        if self.penalty > 0 and not isinstance(runner.optim_wrapper, GroupLassoOptimWrapper):
            raise TypeError('KernelGroupPruningHook with penalty > 0 needs optim_wrapper='
                            "dict(type='GroupLassoOptimWrapper', ...), got "
                            f'{type(runner.optim_wrapper).__name__}')
        self.install(runner)

    def before_train_epoch(self, runner) -> None:
        model = self.unwrap(runner.model)
        if runner.epoch == self.prune_epoch and not any(True for _ in masked_convs(model)):
            prune_model(model, self.scheme, self.layer_ratios(model), self.group_size, self.pad)
            runner.logger.info(f'KernelGroupPruningHook: pruned {self.scheme} to '
                               f'{self.layer_ratios(model)}')
        elif runner.epoch < self.prune_epoch and runner.epoch % self.reweight_interval == 0:
            self.refresh(model)
        self.install(runner)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        for _, conv in masked_convs(self.unwrap(runner.model)):
            apply_mask(conv)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Save α with the checkpoint: it is refreshed every ``reweight_interval`` epochs from
        the weights of that moment, which a run resumed in between no longer has."""
        if self.alphas:
            checkpoint[CHECKPOINT_KEY] = dict(alphas=dict(self.alphas))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Restore the masks (from the state dict) and α (if the checkpoint has them)."""
        restore_masks(self.unwrap(runner.model), checkpoint.get('state_dict', checkpoint))
        if CHECKPOINT_KEY in checkpoint:
            self.alphas = dict(checkpoint[CHECKPOINT_KEY]['alphas'])
        self.install(runner)

    def mask_gradients(self, model: nn.Module) -> None:
        """Multiply the gradient of every masked weight by its mask in the backward pass, so
        that the optimizer's step (momentum included) sees no gradient on pruned weights."""
        for _, conv in masked_convs(model):
            if id(conv.weight) not in self.masked_grads:
                self.masked_grads[id(conv.weight)] = conv.weight.register_hook(
                    lambda grad, conv=conv: grad * conv.weight_mask)

    def refresh(self, model: nn.Module) -> None:
        """Recompute α from the current weights."""
        self.alphas = reweighted_alphas(self.targets(model), self.scheme, self.group_size, self.pad,
                                        self.eps)

    def install(self, runner) -> None:
        """Give the optim wrapper the penalty before the prune, none after it."""
        model = self.unwrap(runner.model)
        pruned = any(True for _ in masked_convs(model))
        if pruned:
            self.mask_gradients(model)
        if not isinstance(runner.optim_wrapper, GroupLassoOptimWrapper):
            return
        if pruned or self.penalty == 0:
            runner.optim_wrapper.penalty = None
            return
        if not self.alphas:
            self.refresh(model)
        convs = self.targets(model)
        runner.optim_wrapper.penalty = lambda: self.penalty * group_lasso_penalty(
            convs, self.alphas, self.scheme, self.group_size, self.pad)

    @staticmethod
    def unwrap(model: nn.Module) -> nn.Module:
        return getattr(model, 'module', model)
