"""Loading of the compiled op library ``mmeff.ops._ext`` and the fallback policy.

Every op has a pure-PyTorch reference; when the library is absent (not built, or built for
another torch) the reference runs instead, after a one-time warning per op.
"""
import functools
import importlib
import logging

import torch
from mmengine.logging import print_log


@functools.lru_cache(maxsize=None)
def extension_error() -> str:
    """Why ``mmeff.ops._ext`` cannot be loaded, or '' when it loads."""
    try:
        importlib.import_module('mmeff.ops._ext')
    except ImportError as e:  # not built, or an ABI mismatch with the installed torch
        return str(e)
    return ''


def has_extension() -> bool:
    """Whether the compiled ops are loaded (they then live in ``torch.ops.mmeff``)."""
    return not extension_error()


@functools.lru_cache(maxsize=None)
def warn_fallback(op_name: str) -> None:
    """Warn once per op that its pure-PyTorch reference runs instead of the compiled kernel."""
    print_log(
        f'mmeff.ops.{op_name}: compiled extension unavailable ({extension_error()}); '
        'using the pure-PyTorch reference (correct but not sparse). Build it with '
        '`bash tools/run.sh setup` or `pip install --no-build-isolation -e .`.',
        logger="current", level=logging.WARNING)


def check_one_device(op_name: str, **tensors) -> None:
    """Raise ``ValueError`` unless every tensor given (``None`` skipped) is on one device.

    The wrappers and the fake (meta) kernels call it first: a meta tensor among CPU tensors
    would otherwise dispatch to the fake kernel and return uninitialised memory.
    """
    devices = {name: t.device for name, t in tensors.items() if isinstance(t, torch.Tensor)}
    if len(set(devices.values())) > 1:
        raise ValueError(f'{op_name}: all tensors must be on one device, got ' +
                         ', '.join(f'{name} on {device}' for name, device in devices.items()))
