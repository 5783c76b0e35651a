"""Config-level SkipConv: ``model = dict(type='SkipConvModel', model=<stock model>, ...)``.

``SkipConvModel`` is registered in mmengine's root MODELS as a builder: it builds the wrapped
model from the config's own scope (mmdet, mmpose, mmaction2) and returns it converted with
:func:`convert_to_skipconv`, so the runner, the toolbox's ``tools/train.py`` / ``tools/test.py``
and its checkpoints see the stock model class. Converted layers keep the parameter names of
the convs they replace, so dense checkpoints load (gate parameters are new keys).

BatchNorm folding is not done here: a freshly built model has no trained statistics yet and
folding would drop the BatchNorm keys that checkpoints load into. ``SkipConv2d`` is exact with
or without folding.
"""
from typing import Iterable, Optional

from mmengine.registry import MODELS
from torch import nn

from .skipconv import convert_to_skipconv


def build_skipconv_model(model: dict, gate: Optional[dict] = None, skip: Iterable[str] = (),
                         reference: str = 'accumulated') -> nn.Module:
    """Build ``model`` (a config dict of any registered model) and convert its convs."""
    built = MODELS.build(model)
    return convert_to_skipconv(built, gate=gate, skip=skip, fuse_bn=False, reference=reference)


MODELS.register_module(name='SkipConvModel', module=build_skipconv_model)
