"""Loading of the compiled op library ``mmeff.ops._ext`` and the routing of the op wrappers.

Every op has a pure-PyTorch reference. :func:`select_kernel` is the one rule by which a
wrapper picks the compiled op or that reference, and :func:`register_fake` registers an op's
fake (meta) kernel behind the device check :func:`check_one_device`.
"""
import functools
import importlib
import logging
import numbers
from typing import Callable, Iterable, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor

#: The dtypes every compiled kernel takes.
KERNEL_DTYPES = (torch.float32, torch.float64)


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
        '`bash tools/run.sh setup` or `pip install --no-build-isolation -e .`.', logger="current",
        level=logging.WARNING)


@functools.lru_cache(maxsize=None)
def kernel_on(op_name: str, device_type: str) -> Optional[Callable]:
    """``torch.ops.mmeff.<op_name>`` if it has a kernel for ``device_type`` (its own or a
    composite one; meta tensors reach the fake kernel), else None. Needs the extension."""
    key = torch._C._dispatch_key_for_device(device_type)
    if torch._C._dispatch_has_computed_kernel_for_dispatch_key(f'mmeff::{op_name}', key):
        return getattr(torch.ops.mmeff, op_name)
    return None


def select_kernel(op_name: str, x: Tensor, tensors: Iterable = (),
                  supported: bool = True) -> Optional[Callable]:
    """The compiled op a wrapper calls for these arguments, or None: run the reference.

    The rule of every wrapper (docs/ops.md, "Device policy"), checked in this order:

    0. ``x`` and ``tensors`` are on more than one device: ``ValueError`` (before any dispatch,
       so a meta tensor among CPU tensors never reaches a fake kernel or the reference);
    1. ``supported`` is False (the op's own limits, e.g. a dtype or a channel count): None;
    2. grad mode is on and one of ``tensors`` requires grad (no compiled op has a backward):
       None;
    3. the extension is not loaded: a one-time warning per op, None;
    4. the op has no kernel for ``x``'s device (:func:`kernel_on`): None;
    5. otherwise ``torch.ops.mmeff.<op_name>``.

    Args:
        op_name: the op's name in ``torch.ops.mmeff``.
        x: the op's main input; its device picks the kernel.
        tensors: every tensor argument of the op (``None`` and non-tensors are skipped).
        supported: whether the kernel takes these arguments at all.
    """
    devices = sorted({str(t.device) for t in (x, *tensors) if isinstance(t, Tensor)})
    if len(devices) > 1:
        raise ValueError(
            f'{op_name}: all tensors must be on one device, got {" and ".join(devices)}')
    if not supported:
        return None
    if torch.is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in tensors):
        return None
    if not has_extension():
        warn_fallback(op_name)
        return None
    return kernel_on(op_name, x.device.type)


def int_pair(op_name: str, name: str, value, minimum: int) -> Tuple[int, int]:
    """``value``, an int or a pair of ints (not bools), as a pair; each must be >= ``minimum``."""
    pair = tuple(value) if isinstance(value, (tuple, list, torch.Size)) else (value, value)
    if len(pair) != 2 or any(
            isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in pair):
        raise ValueError(f'{op_name}: {name} must be an int or a pair of ints, got {value!r}')
    if min(pair) < minimum:
        raise ValueError(f'{op_name}: {name} must be >= {minimum}, got {pair}')
    return int(pair[0]), int(pair[1])


def conv_geometry(op_name: str, stride, padding, dilation=1) -> Tuple[Tuple[int, int], ...]:
    """(stride, padding, dilation) as validated int pairs (stride and dilation >= 1)."""
    return (int_pair(op_name, 'stride', stride,
                     1), int_pair(op_name, 'padding', padding,
                                  0), int_pair(op_name, 'dilation', dilation, 1))


def check_non_negative(op_name: str, name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``value >= 0`` (NaN fails)."""
    if not value >= 0:
        raise ValueError(f'{op_name}: {name} must be >= 0, got {value}')


def check_share(op_name: str, name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``value`` is a share in (0, 1]."""
    if not 0 < value <= 1:
        raise ValueError(f'{op_name}: {name} must be in (0, 1], got {value}')


def check_stream_count(op_name: str, pooled_sum, frames_seen: int) -> None:
    """Raise ``ValueError`` unless ``frames_seen`` counts the frames in ``pooled_sum``: 0 for
    a new stream (``pooled_sum`` None), > 0 otherwise."""
    if frames_seen < 0 or (frames_seen > 0) != (pooled_sum is not None):
        raise ValueError(f'{op_name}: frames_seen must be 0 for a new stream (pooled_sum None) '
                         f'and > 0 otherwise, got {frames_seen} '
                         f'{"with" if pooled_sum is not None else "without"} a pooled_sum')


def check_one_device(op_name: str, **tensors) -> None:
    """Raise ``ValueError`` unless every tensor given (non-tensors skipped) is on one device.

    The fake (meta) kernels call it first: a meta tensor among CPU tensors would otherwise
    dispatch to the fake kernel and return uninitialised memory.
    """
    devices = {name: t.device for name, t in tensors.items() if isinstance(t, torch.Tensor)}
    if len(set(devices.values())) > 1:
        raise ValueError(f'{op_name}: all tensors must be on one device, got ' +
                         ', '.join(f'{name} on {device}' for name, device in devices.items()))


def _named_tensors(names: Iterable[str], args: tuple, kwargs: dict) -> dict:
    """The tensors among an op's arguments by schema name; list items as ``name[i]``."""
    named = {}
    for name, value in [*zip(names, args), *kwargs.items()]:
        if isinstance(value, (list, tuple)):
            named.update({f'{name}[{i}]': v for i, v in enumerate(value)})
        else:
            named[name] = value
    return named


def register_fake(op_name: str) -> Callable[[Callable], Callable]:
    """Decorator: register ``fake`` as the fake (meta) kernel of ``mmeff::<op_name>``.

    The registered kernel first checks with :func:`check_one_device` that all tensor
    arguments (named as in the op's schema) share one device. Without the extension nothing
    is registered (there is no op); ``fake`` is returned unchanged either way.
    """

    def decorate(fake: Callable) -> Callable:
        if not has_extension():
            return fake
        names = [arg.name for arg in getattr(torch.ops.mmeff, op_name).default._schema.arguments]

        @functools.wraps(fake)
        def checked(*args, **kwargs):
            check_one_device(op_name, **_named_tensors(names, args, kwargs))
            return fake(*args, **kwargs)

        torch.library.register_fake(f'mmeff::{op_name}')(checked)
        return fake

    return decorate
