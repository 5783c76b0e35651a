"""``convert_to_kgs``: a kernel-group pruned model -> the same model with compact convs."""
from typing import Optional

from torch import nn

from ..layers.kernel_group_sparsity import MASK
from ..layers.kgs_conv3d import KGSConv3d


def convert_to_kgs(model: nn.Module, group_rows: Optional[int] = None) -> nn.Module:
    """Replace every ``nn.Conv3d`` of ``model`` that carries a ``weight_mask`` (see
    :mod:`mmeff.layers.kernel_group_sparsity`) by a :class:`~mmeff.layers.KGSConv3d` with its
    masked weights packed; in place, returns ``model``. For inference: the packed convs have no
    gradients. Its outputs equal the masked dense model's.

    Args:
        model: a pruned model.
        group_rows: filters per packed block (default: each mask's g_M).
    """
    for module in list(model.modules()):
        for child_name, child in list(module._modules.items()):
            if isinstance(child, nn.Conv3d) and hasattr(child, MASK):
                module._modules[child_name] = KGSConv3d.from_conv(child, group_rows)
    return model
