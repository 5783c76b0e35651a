"""Per-layer report of a kernel-group pruned model: parameters, FLOPs and the share pruned.

FLOPs come from mmengine's ``FlopAnalyzer`` (its convention: one multiply-add is one FLOP) on
one input of a given shape, for the whole model (a recognizer's ``backbone`` and ``cls_head``).
A conv that carries a ``weight_mask`` (see :mod:`mmeff.layers.kernel_group_sparsity`) keeps
the share of its FLOPs that its mask keeps of its weights: each output element of a conv costs
one multiply-add per non-zero weight of its filter, so a mask that keeps k of the weight's n
entries keeps exactly k/n of the conv's multiply-adds, whatever the scheme.
"""
import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import CheckpointLoader
from torch import nn

from ..layers.kernel_group_sparsity import MASK, restore_masks


@dataclass(frozen=True)
class LayerPruning:
    """One ``nn.Conv3d``: weight shape (M, N, Kt, Kh, Kw), its parameters (weight and bias),
    the weight entries its mask removes, and its FLOPs dense and kept."""
    name: str
    weight_shape: Tuple[int, ...]
    params: int
    pruned_weights: int
    flops: int
    kept_flops: int

    @property
    def kept_params(self) -> int:
        return self.params - self.pruned_weights

    @property
    def pruned_share(self) -> float:
        """Share of the weight's entries the mask removes (0 for an unmasked conv)."""
        return self.pruned_weights / math.prod(self.weight_shape)


@dataclass(frozen=True)
class PruningReport:
    """The convs of a model and the whole model's totals (all its parameters and FLOPs)."""
    layers: List[LayerPruning]
    params: int
    kept_params: int
    flops: int
    kept_flops: int

    @property
    def flop_reduction(self) -> float:
        """Dense FLOPs / kept FLOPs of the whole model."""
        return self.flops / self.kept_flops

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready: the totals, the reduction and one dict per layer with its share."""
        layers = [
            dict(asdict(layer), kept_params=layer.kept_params, pruned_share=layer.pruned_share)
            for layer in self.layers
        ]
        return dict(params=self.params, kept_params=self.kept_params, flops=self.flops,
                    kept_flops=self.kept_flops, flop_reduction=self.flop_reduction, layers=layers)


class BackboneAndHead(nn.Module):
    """A recognizer's ``backbone`` followed by its ``cls_head`` as one module, under the
    recognizer's module names, so that the analyzer sees the classifier too."""

    def __init__(self, recognizer: nn.Module):
        super().__init__()
        self.backbone, self.cls_head = recognizer.backbone, recognizer.cls_head

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.cls_head(self.backbone(inputs))


def analysed_module(model: nn.Module) -> nn.Module:
    """The module the report runs: ``model``, or its backbone and head for a recognizer."""
    if hasattr(model, 'backbone') and hasattr(model, 'cls_head'):
        return BackboneAndHead(model)
    return model


def layer_pruning(name: str, conv: nn.Conv3d, flops: int) -> LayerPruning:
    params = sum(p.numel() for p in conv.parameters())
    mask = getattr(conv, MASK, None)
    pruned = 0 if mask is None else int((~mask).sum())
    kept_flops = flops * (conv.weight.numel() - pruned) // conv.weight.numel()
    return LayerPruning(name, tuple(conv.weight.shape), params, pruned, flops, kept_flops)


@torch.no_grad()
def pruning_report(model: nn.Module, input_shape: Sequence[int]) -> PruningReport:
    """Report of every ``nn.Conv3d`` of ``model`` on one zero input of ``input_shape``
    (N, C, T, H, W), and the model's totals. ``ValueError`` if ``model`` has no Conv3d."""
    module = analysed_module(model)
    param = next(module.parameters())
    analyzer = FlopAnalyzer(module,
                            (torch.zeros(*input_shape, dtype=param.dtype, device=param.device), ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    by_module = analyzer.by_module()
    layers = [
        layer_pruning(name, conv, by_module.get(name, 0)) for name, conv in module.named_modules()
        if isinstance(conv, nn.Conv3d)
    ]
    if not layers:
        raise ValueError(f'model has no nn.Conv3d to report on ({type(model).__name__})')
    params = sum(p.numel() for p in module.parameters())
    flops = analyzer.total()
    return PruningReport(layers, params, params - sum(layer.pruned_weights for layer in layers),
                         flops, flops - sum(layer.flops - layer.kept_flops for layer in layers))


def load_pruned_checkpoint(model: nn.Module, path: str) -> List[str]:
    """Load a checkpoint (a pruned model's, or a dense one) into a freshly built ``model``:
    its masks first (the fresh convs have no mask buffers), then every tensor, strictly.
    Returns the names of the masked convs."""
    checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint)
    masked = restore_masks(model, state_dict)
    model.load_state_dict(state_dict)
    return masked


def hook_input_shape(cfg: Config) -> Tuple[int, ...]:
    """``input_shape`` of the config's KernelGroupPruningHook; ``ValueError`` if it has none."""
    for hook in cfg.get('custom_hooks', []):
        if hook.get('type') == 'KernelGroupPruningHook' and 'input_shape' in hook:
            return tuple(hook['input_shape'])
    raise ValueError('input_shape is needed: the config has no KernelGroupPruningHook with an '
                     'input_shape')


def report_checkpoint(config: str, checkpoint: str,
                      input_shape: Optional[Sequence[int]] = None) -> PruningReport:
    """The report of ``config``'s model (built in the config's ``default_scope``) with
    ``checkpoint`` loaded, on ``input_shape`` (default: the pruning hook's)."""
    cfg = Config.fromfile(config)
    scope = cfg.get('default_scope', 'mmaction')
    with DefaultScope.overwrite_default_scope(scope):
        registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
        model = registry.build(cfg.model).eval()
    load_pruned_checkpoint(model, checkpoint)
    return pruning_report(model, input_shape or hook_input_shape(cfg))


def format_report(report: PruningReport) -> str:
    """The report as an aligned text table: one row per conv, then the model's totals."""
    header = ('layer', 'weight', 'params', 'kept', 'MFLOPs', 'kept MFLOPs', 'pruned')
    rows = [(layer.name, 'x'.join(map(str, layer.weight_shape)), str(layer.params),
             str(layer.kept_params), f'{layer.flops / 1e6:.2f}', f'{layer.kept_flops / 1e6:.2f}',
             f'{layer.pruned_share:.1%}') for layer in report.layers]
    rows.append(
        ('model', '', str(report.params), str(report.kept_params), f'{report.flops / 1e6:.2f}',
         f'{report.kept_flops / 1e6:.2f}', f'{report.flop_reduction:.2f}x fewer FLOPs'))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [
        '  '.join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *rows)
    ]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)
