"""What a CondConv model costs and how it routes: parameters and MADDs of a config's model
(``tools/count_config_macs.py``) and each CondConv block's routing weights over images
(``tools/condconv_routing_stats.py``)."""
from typing import Dict, Iterable, List

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from torch import Tensor, nn

from ..det import CondConvInvertedResidual
from ..utils import count_mixture_macs


def count_config(path: str, height: int, width: int) -> dict:
    """Millions of parameters and of multiply-adds (total, conv, mix, linear) of one image of
    ``height`` × ``width`` through the model of the config at ``path``."""
    cfg = Config.fromfile(path)
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model).eval()
    macs = count_mixture_macs(model, torch.zeros(1, 3, height, width), None)
    params = sum(p.numel() for p in model.parameters())
    return dict(config=path, params_m=params / 1e6, madds_m=macs.total / 1e6,
                conv_m=macs.conv / 1e6, mix_m=macs.mix / 1e6, linear_m=macs.linear / 1e6)


def routing_weights(backbone: nn.Module, batches: Iterable[Tensor]) -> Dict[str, Tensor]:
    """Each CondConv block's routing weights, (N, E) over the N images of ``batches``
    ((B, 3, H, W) each), without gradients, in the backbone's mode (train or eval)."""
    routes: Dict[str, List[Tensor]] = {}
    handles = [
        block.router.register_forward_hook(
            lambda mod, args, out, name=name: routes.setdefault(name, []).append(out))
        for name, block in backbone.named_modules() if isinstance(block, CondConvInvertedResidual)
    ]
    try:
        with torch.no_grad():
            for batch in batches:
                backbone(batch)
    finally:
        for handle in handles:
            handle.remove()
    return {name: torch.cat(outs) for name, outs in routes.items()}


def summary(weights: Tensor) -> dict:
    """Statistics of one block's (N, E) routing weights."""
    return dict(expert_means=weights.mean(0).tolist(), std_over_images=float(weights.std(0).mean()),
                near_0=float((weights < 0.02).float().mean()), near_1=float(
                    (weights > 0.98).float().mean()))
