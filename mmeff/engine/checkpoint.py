"""Safe checkpoint loading under torch's ``weights_only=True`` default (torch >= 2.6).

mmengine 0.10.7 loads checkpoints with plain ``torch.load``; the checkpoints it saves carry its
``HistoryBuffer`` (message hub) and numpy arrays/scalars (logs, metadata), which the safe
unpickler rejects (open-mmlab/mmengine#1655). Rather than turning safe loading off, mmeff adds
exactly these classes to torch's allow-list.

``HistoryBuffer`` pickles its statistics methods as ``getattr(HistoryBuffer, 'mean')`` and so
on. Allowing the builtin ``getattr`` would let a checkpoint reach any attribute of any allowed
object, so the name ``builtins.getattr`` is bound to :func:`history_buffer_getattr`, which
resolves exactly those methods and rejects everything else.
"""
import pickle
from typing import Any, List

import numpy as np
import torch

#: HistoryBuffer's own statistics methods (mmengine 0.10.7).
BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to the registered statistics methods of ``HistoryBuffer``."""
    from mmengine.logging.history_buffer import HistoryBuffer

    # The built-in methods are added to ``_statistics_methods`` only when the first
    # HistoryBuffer is created, which a fresh process (tools/test.py) has not done yet.
    if obj is HistoryBuffer and (name in HistoryBuffer._statistics_methods
                                 or name in BUILTIN_STATISTICS):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'mmeff safe loading: getattr({obj!r}, {name!r}) is not allow-listed; only '
        'HistoryBuffer statistics methods are')


def mmengine_checkpoint_globals() -> List[object]:
    """The non-tensor globals found in mmengine-saved checkpoints, for ``add_safe_globals``."""
    from mmengine.logging.history_buffer import HistoryBuffer

    np_core = np.core if hasattr(np, 'core') else np._core
    return [
        HistoryBuffer,
        (history_buffer_getattr, 'builtins.getattr'),
        np_core.multiarray._reconstruct,
        np_core.multiarray.scalar,
        np.ndarray,
        np.dtype,
        *{
            type(np.dtype(t))
            for t in (np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
                      np.uint8, np.bool_)
        },
    ]


def allow_mmengine_checkpoint_globals() -> None:
    """Allow-list :func:`mmengine_checkpoint_globals` for ``torch.load(weights_only=True)``."""
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
