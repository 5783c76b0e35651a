"""Explicit per-video-stream state of stateful layers (SkipConv2d, the stream-buffer layers).

One model can serve several independent videos: give each video its own :class:`StreamState`
and run its frames inside ``with mmeff.stream(state):``. Outside any ``stream`` block a layer
uses its own default stream, which :func:`reset_streams` clears. Training on clips of
consecutive frames runs inside ``with mmeff.training_clip(T):``. A layer applied several
times per frame (a detection head shared over pyramid levels) runs each application inside
``with call_site(key):`` and keeps one state per key.

Layers that replace (never mutate) their entry on each call can be run all-or-nothing with
:func:`stream_transaction`: a network that rejects its input half-way leaves the stream as it was.
"""
import contextlib
import contextvars
import weakref
from typing import Any, Hashable, Iterator, List, Optional

from torch import nn

_ACTIVE_STREAM: contextvars.ContextVar = contextvars.ContextVar('mmeff_active_stream', default=None)
_CLIP_LENGTH: contextvars.ContextVar = contextvars.ContextVar('mmeff_clip_length', default=None)
_CALL_SITE: contextvars.ContextVar = contextvars.ContextVar('mmeff_call_site', default=None)
_STAGING: contextvars.ContextVar = contextvars.ContextVar('mmeff_staging', default=None)


class StreamState:
    """The state every stateful layer keeps for one video stream, keyed by layer."""

    def __init__(self):
        self._entries: 'weakref.WeakKeyDictionary[nn.Module, Any]' = weakref.WeakKeyDictionary()

    def get(self, layer: nn.Module) -> Optional[Any]:
        return self._entries.get(layer)

    def set(self, layer: nn.Module, entry: Any) -> None:
        self._entries[layer] = entry

    def reset(self) -> None:
        """Forget everything: the next frame of this stream is a key frame."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def copy(self) -> 'StreamState':
        """A new state holding the same entries (entries are shared, not copied)."""
        clone = StreamState()
        clone._entries.update(self._entries)
        return clone

    def update(self, other: 'StreamState') -> None:
        """Take over every entry of ``other``."""
        self._entries.update(other._entries)

    def entries(self) -> List[Any]:
        """The entries of all layers, in no particular order."""
        return list(self._entries.values())


class StreamStateful:
    """Mixin for ``nn.Module`` layers with per-stream state.

    ``load_entry`` / ``store_entry`` read and write the entry of the active stream, or the
    layer's own default stream outside any ``stream`` block; ``reset_stream`` clears the latter.
    """
    _own_entry: Optional[Any] = None

    def reset_stream(self) -> None:
        """Forget this layer's default stream (``mmeff.reset_streams`` calls it)."""
        self._own_entry = None

    def load_entry(self) -> Optional[Any]:
        state = active_stream()
        return self._own_entry if state is None else state.get(self)

    def store_entry(self, entry: Any) -> None:
        state = active_stream()
        if state is None:
            self._own_entry = entry
        else:
            state.set(self, entry)


def active_stream() -> Optional[StreamState]:
    """The stream of the innermost ``stream`` block, or None."""
    return _ACTIVE_STREAM.get()


@contextlib.contextmanager
def stream(state: StreamState) -> Iterator[StreamState]:
    """Run the frames of one video: stateful layers read and write ``state`` inside the block."""
    if not isinstance(state, StreamState):
        raise TypeError(f'stream() expects a mmeff StreamState, got {type(state).__name__}')
    token = _ACTIVE_STREAM.set(state)
    try:
        yield state
    finally:
        _ACTIVE_STREAM.reset(token)


def active_call_site() -> Optional[Hashable]:
    """The key of the innermost ``call_site`` block, or None."""
    return _CALL_SITE.get()


@contextlib.contextmanager
def call_site(key: Hashable) -> Iterator[Hashable]:
    """Mark one of several applications of the same layers within a frame (e.g. pyramid level
    ``key`` of a shared head): stateful layers keep separate state and MAC counts per key."""
    hash(key)  # a clear TypeError for unhashable keys
    token = _CALL_SITE.set(key)
    try:
        yield key
    finally:
        _CALL_SITE.reset(token)


@contextlib.contextmanager
def stream_transaction(state: StreamState) -> Iterator[StreamState]:
    """Like :func:`stream`, but the block's writes reach ``state`` only if it raises nothing.

    Requires layers that store new entries instead of changing stored ones in place (the
    stream-buffer layers do; ``SkipConv2d`` updates its cached output in place and does not).
    A transaction on the staging state of an enclosing one (a recognizer's call running its
    backbone's) joins it: the outermost transaction commits or drops all writes at once.
    """
    if _STAGING.get() is state:
        with stream(state):
            yield state
        return
    staged = state.copy()
    token = _STAGING.set(staged)
    try:
        with stream(staged):
            yield staged
    finally:
        _STAGING.reset(token)
    state.update(staged)


def active_clip_length() -> Optional[int]:
    """The clip length of the innermost ``training_clip`` block, or None."""
    return _CLIP_LENGTH.get()


@contextlib.contextmanager
def training_clip(length: int) -> Iterator[int]:
    """Train on clips: the batch holds clips of ``length`` consecutive frames, frame-major per
    clip, i.e. shaped (B * length, C, H, W) from (B, length, C, H, W)."""
    if int(length) != length or length < 1:
        raise ValueError(f'training_clip: length must be a positive integer, got {length}')
    token = _CLIP_LENGTH.set(int(length))
    try:
        yield int(length)
    finally:
        _CLIP_LENGTH.reset(token)


def reset_streams(model: nn.Module) -> None:
    """Clear the default stream of every stateful layer of ``model`` (a new video starts)."""
    for module in model.modules():
        reset = getattr(module, 'reset_stream', None)
        if callable(reset):
            reset()
