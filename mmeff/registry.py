"""Registries mmeff registers into, and the lazy registration of toolbox-specific parts.

Generic layers go into mmengine's root ``MODELS``: ``build_conv_layer`` (mmcv) and every
toolbox registry (mmdet, mmpose, mmaction2) fall back to the root, so
``conv_cfg=dict(type='OutputSparseConv2d')`` works inside stock backbones of all three.

Parts that subclass a toolbox's classes (detector heads, pose metrics, action backbones)
live in ``mmeff.det``, ``mmeff.pose`` and ``mmeff.action`` and register into that toolbox's
own registries. Importing them imports the toolbox, so ``import mmeff`` does not do it
eagerly: :func:`register_toolbox_parts` imports each part package right away when its
toolbox's ``models`` package is already loaded, and otherwise as soon as it gets loaded
(which mmengine does itself when it builds from a registry with that default scope).
"""
import importlib
import importlib.abc
import sys
from types import ModuleType
from typing import Callable, Dict, List, Optional

from mmengine.registry import MODELS

#: toolbox package whose import triggers the registration -> mmeff package registering into it.
TOOLBOX_PARTS: Dict[str, str] = {
    'mmdet.models': 'mmeff.det',
    'mmpose.models': 'mmeff.pose',
    'mmaction.models': 'mmeff.action',
}


class _RunAfterExec(importlib.abc.Loader):
    """Wraps a module's loader and calls ``callbacks`` once the module has executed."""

    def __init__(self, loader: importlib.abc.Loader, callbacks: List[Callable[[], None]]):
        self._loader = loader
        self._callbacks = callbacks

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        for callback in self._callbacks:
            callback()

    def __getattr__(self, name: str):
        return getattr(self._loader, name)


class _AfterImportHook(importlib.abc.MetaPathFinder):
    """Meta-path finder that runs ``callbacks`` right after ``trigger`` is first imported."""

    def __init__(self, trigger: str):
        self.trigger = trigger
        self.callbacks: List[Callable[[], None]] = []

    def find_spec(self, fullname, path, target=None):
        if fullname != self.trigger:
            return None
        sys.meta_path.remove(self)  # one shot; also keeps the lookup below from finding us
        for finder in sys.meta_path:
            find = getattr(finder, 'find_spec', None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None and spec.loader is not None:
                spec.loader = _RunAfterExec(spec.loader, self.callbacks)
                return spec
        return None


def _pending_hook(trigger: str) -> Optional[_AfterImportHook]:
    return next(
        (f for f in sys.meta_path if isinstance(f, _AfterImportHook) and f.trigger == trigger),
        None)


def call_after_import(trigger: str, callback: Callable[[], None]) -> None:
    """Call ``callback`` now if module ``trigger`` is loaded, else right after it loads."""
    if trigger in sys.modules:
        callback()
        return
    hook = _pending_hook(trigger)
    if hook is None:
        hook = _AfterImportHook(trigger)
        sys.meta_path.insert(0, hook)
    hook.callbacks.append(callback)


def register_toolbox_parts() -> None:
    """Register mmeff's toolbox parts now or when their toolbox loads (see module doc)."""
    for trigger, parts in TOOLBOX_PARTS.items():
        call_after_import(trigger, lambda parts=parts: importlib.import_module(parts))


__all__ = ['MODELS', 'TOOLBOX_PARTS', 'call_after_import', 'register_toolbox_parts']
