"""Explicit per-video-stream state of every stateful layer: one mechanism for all of them.

One model can serve several independent videos: give each video its own :class:`StreamState`
and run its frames inside ``with mmeff.stream(state):``. Outside any ``stream`` block a layer
(or a model that opens a transaction, see below) uses its own default stream, which
:func:`reset_streams` clears. A layer applied several times per frame (a detection head shared
over pyramid levels) runs each application inside ``with call_site(key):`` and keeps one entry
per key. Training on clips of consecutive frames runs inside ``with mmeff.training_clip(T):``.

Stateful layers derive from :class:`StreamStateful` and keep their state as *entries*, read and
written with ``load_entry`` / ``store_entry``. An entry is either replaced on every frame
(tuples, frozen dataclasses: the stream buffers, running sums) or changed in place (SkipConv2d's
caches); an entry of the second kind has a ``fork()`` method returning an independent copy.
An entry changed in place may also keep an undo log (:class:`UndoLog`) of its changes: it then
has ``begin()``, ``commit()`` and ``rollback()`` methods, and its ``undo`` attribute is the log
while one is open.

Transactions: inside ``with stream_transaction(state):`` layers work on a staged view of
``state``. The first time the block reads an entry changed in place, the entry is logged
(``begin()``) if it keeps a log, else forked; entries replaced during the block stay in the
view. The staged entries reach ``state`` and the logs are dropped only if the block raises
nothing; otherwise the logged entries are rolled back and the view is dropped. So a frame
rejected half-way through a network (a bad input, NaN produced inside) leaves the stream as it
was, at the cost of what the frame changed. :func:`atomic_frames` runs every call of a model
as such a transaction.
"""
import contextlib
import contextvars
import dataclasses
import sys
import weakref
from typing import Any, Callable, Dict, Hashable, Iterator, List, Optional, Tuple

import torch
from torch import Tensor, nn

from ..ops.errors import NonFiniteError

_ACTIVE_STREAM: contextvars.ContextVar = contextvars.ContextVar('mmeff_active_stream', default=None)
_CLIP_LENGTH: contextvars.ContextVar = contextvars.ContextVar('mmeff_clip_length', default=None)
_CALL_SITE: contextvars.ContextVar = contextvars.ContextVar('mmeff_call_site', default=None)

SiteEntries = Dict[Optional[Hashable], Any]  # one layer's entries, keyed by call site


def fork_entry(entry: Any) -> Any:
    """An entry that later changes to ``entry`` cannot reach: ``entry.fork()`` for entries
    changed in place, the entry itself for entries that are replaced instead."""
    fork = getattr(entry, 'fork', None)
    return fork() if callable(fork) else entry


def keeps_undo_log(entry: Any) -> bool:
    """Whether ``entry`` takes part in transactions through an undo log (``begin()``; its
    ``undo`` attribute is the open log, or None)."""
    return callable(getattr(entry, 'begin', None))


class UndoLog:
    """Steps that take back, in reverse order, the in-place changes of one entry during a
    transaction: each step writes back what one change overwrote (for the frame ops, a
    :class:`~mmeff.ops.FrameUndo`'s ``restore``)."""

    def __init__(self):
        self._steps: List[Callable[[], None]] = []
        self._nbytes = 0

    def add(self, step: Callable[[], None], nbytes: int = 0) -> None:
        """Record ``step``, which undoes the change about to be made, holding ``nbytes`` bytes
        of saved values."""
        self._steps.append(step)
        self._nbytes += nbytes

    def rollback(self) -> None:
        """Run the steps, the last first, and forget them."""
        while self._steps:
            self._steps.pop()()
        self._nbytes = 0

    def nbytes(self) -> int:
        """Bytes of the values saved so far (what the transaction copied for this entry)."""
        return self._nbytes

    def __len__(self) -> int:
        return len(self._steps)


class StreamState:
    """The state every stateful layer keeps for one video stream, keyed by layer and call site.

    Layers are held weakly: a deleted model's state goes with it.
    """

    def __init__(self):
        self._layers: 'weakref.WeakKeyDictionary[nn.Module, SiteEntries]' = \
            weakref.WeakKeyDictionary()

    def sites(self, layer: nn.Module) -> Optional[SiteEntries]:
        """``layer``'s entries by call site, or None if it has none in this stream."""
        return self._layers.get(layer)

    def get(self, layer: nn.Module, site: Optional[Hashable] = None) -> Optional[Any]:
        sites = self.sites(layer)
        return None if sites is None else sites.get(site)

    def set(self, layer: nn.Module, entry: Any, site: Optional[Hashable] = None) -> None:
        sites = self.sites(layer)
        if sites is None:
            sites = self._layers[layer] = {}
        sites[site] = entry

    def reset(self) -> None:
        """Forget everything: the next frame of this stream is a key frame."""
        self._layers.clear()

    def __len__(self) -> int:
        """Number of layers with state in this stream."""
        return len(self._layers)

    def fork(self) -> 'StreamState':
        """An independent copy: feeding the fork another video leaves this stream as it was."""
        clone = StreamState()
        for layer, sites in list(self._layers.items()):
            clone._layers[layer] = {site: fork_entry(e) for site, e in sites.items()}
        return clone

    def entries(self) -> List[Any]:
        """The entries of all layers and call sites, in no particular order."""
        return [entry for sites in list(self._layers.values()) for entry in sites.values()]

    def nbytes(self) -> int:
        """Bytes held by the tensors of this stream's entries (tensors, tuples of tensors and
        dataclasses holding either)."""
        return sum(_tensor_bytes(entry) for entry in self.entries())


def _tensor_bytes(value: Any) -> int:
    if isinstance(value, Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(_tensor_bytes(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(_tensor_bytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    return 0


class _StagedState(StreamState):
    """The view of a stream inside a transaction: reads fall through to the parent stream (a
    layer's entries are staged on its first read: logged if they keep an undo log, else forked),
    writes stay here until :meth:`commit`. ``parent`` None stands for every layer's own default
    stream (a model called outside any ``stream`` block, see :func:`atomic_frames`)."""

    def __init__(self, parent: Optional[StreamState]):
        super().__init__()
        self.parent = parent
        self._logged: List[Any] = []  # entries logging their changes, in the order staged

    def parent_of(self, layer: nn.Module) -> StreamState:
        return self.parent if self.parent is not None else layer.own_stream()

    def sites(self, layer: nn.Module) -> Optional[SiteEntries]:
        sites = self._layers.get(layer)
        if sites is None:
            parent_sites = self.parent_of(layer).sites(layer)
            if parent_sites is None:
                return None
            sites = self._layers[layer] = {s: self._stage(e) for s, e in parent_sites.items()}
        return sites

    def _stage(self, entry: Any) -> Any:
        if keeps_undo_log(entry) and entry.undo is None:  # else another transaction logs it
            entry.begin()
            self._logged.append(entry)
            return entry
        return fork_entry(entry)

    def reset(self) -> None:
        raise RuntimeError('StreamState: a stream cannot be reset inside a transaction on it')

    def fork(self) -> StreamState:
        if self.parent is None:
            raise RuntimeError('StreamState: the default streams of a model cannot be forked')
        merged = self.parent.fork()
        for layer, sites in list(self._layers.items()):
            merged._layers[layer] = {site: fork_entry(e) for site, e in sites.items()}
        return merged

    def commit(self) -> None:
        """Hand every staged entry to the parent; drop the undo logs."""
        for entry in self._logged:
            entry.commit()
        for layer, sites in list(self._layers.items()):
            self.parent_of(layer)._layers[layer] = sites

    def rollback(self) -> None:
        """Take back the logged entries' changes, the last staged first; drop the view."""
        for entry in reversed(self._logged):
            entry.rollback()
        self._layers.clear()


class StreamStateful:
    """Mixin for ``nn.Module`` layers and models with per-stream state.

    ``load_entry`` / ``store_entry`` read and write this layer's entry at the active call site
    of :meth:`current_stream`: the active stream, or the layer's own default stream outside any
    ``stream`` block. ``reset_stream`` forgets the default stream.
    """
    _own_stream: Optional[StreamState] = None

    def own_stream(self) -> StreamState:
        """This layer's default stream (created on first use)."""
        if self._own_stream is None:
            self.__dict__['_own_stream'] = StreamState()
        return self._own_stream

    def current_stream(self) -> StreamState:
        """The active stream (``mmeff.stream``), else this layer's default stream."""
        state = _ACTIVE_STREAM.get()
        return self.own_stream() if state is None else state

    def reset_stream(self) -> None:
        """Forget this layer's default stream (``mmeff.reset_streams`` calls it)."""
        self.__dict__['_own_stream'] = None

    def load_entry(self) -> Optional[Any]:
        return self.current_stream().get(self, _CALL_SITE.get())

    def store_entry(self, entry: Any) -> None:
        self.current_stream().set(self, entry, _CALL_SITE.get())


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
def stream_transaction(state: Optional[StreamState]) -> Iterator[StreamState]:
    """Like :func:`stream`, but the block's changes reach ``state`` only if it raises nothing.

    A transaction on the staged state of an enclosing one (a recognizer's call running its
    backbone's) joins it: the outermost transaction commits or drops all changes at once.
    ``state`` None: the default streams of the layers the block runs (no ``stream`` block).
    """
    if isinstance(state, _StagedState):
        with stream(state):
            yield state
        return
    staged = _open_transaction(state)
    try:
        with stream(staged):
            yield staged
    except BaseException:
        staged.rollback()
        raise
    staged.commit()


def _open_transaction(state: Optional[StreamState]) -> _StagedState:
    if state is not None and not isinstance(state, StreamState):
        raise TypeError(f'stream_transaction() expects a mmeff StreamState, got '
                        f'{type(state).__name__}')
    return _StagedState(state)


# The open transactions of atomic_frames models, innermost last: (model, staged view or None
# for a call that joined an enclosing transaction or runs in training mode, the token that
# restores the active stream, the exception being handled when the call started, if any).
_FRAME_CALLS: contextvars.ContextVar = contextvars.ContextVar('mmeff_frame_calls', default=())


def atomic_frames(model: nn.Module) -> nn.Module:
    """Run every eval-mode call of ``model`` as one stream transaction (forward hooks; returns
    ``model``). Calls in training mode run as they are.

    Each call is a transaction on the active stream (``mmeff.stream``), or outside any stream
    block on the default streams of the layers it runs; inside an open transaction it joins it.
    The call commits only if it raises nothing and its output tensors are finite: a frame that
    a layer rejects, or whose output overflows, raises ``NonFiniteError`` and leaves every
    layer's state as it was. For layers with undo logs (``SkipConv2d``) the cost per frame
    follows what the frame changes (docs/design.md, "Transactions").
    """
    if not model.__dict__.get('_mmeff_atomic_frames'):
        model.__dict__['_mmeff_atomic_frames'] = True
        model.register_forward_pre_hook(_open_frame)
        model.register_forward_hook(_close_frame, always_call=True)
    return model


def _open_frame(model: nn.Module, args: Tuple) -> None:
    active = _ACTIVE_STREAM.get()
    joins = model.training or isinstance(active, _StagedState)
    staged = None if joins else _open_transaction(active)
    token = None if staged is None else _ACTIVE_STREAM.set(staged)
    _FRAME_CALLS.set(_FRAME_CALLS.get() + ((model, staged, token, sys.exc_info()[1]), ))


def _close_frame(model: nn.Module, args: Tuple, output: Any) -> None:
    calls = _FRAME_CALLS.get()
    if not calls or calls[-1][0] is not model:
        return  # opened by another call (a pre-hook of this call raised before ours ran)
    _FRAME_CALLS.set(calls[:-1])
    _, staged, token, handled_before = calls[-1]
    if staged is None:
        return
    _ACTIVE_STREAM.reset(token)
    if sys.exc_info()[1] is not handled_before:  # torch runs this hook while forward raises
        staged.rollback()
        return
    if not _all_finite(output):
        staged.rollback()
        raise NonFiniteError(f'{type(model).__name__}: the network produced NaN or Inf; the '
                             "frame was rejected and the stream's state is unchanged")
    staged.commit()


def _all_finite(output: Any) -> bool:
    """Whether every floating-point tensor in ``output`` (tensors, tuples, lists, dicts) is
    finite: one reduction each."""
    if isinstance(output, Tensor):
        return not output.is_floating_point() or bool(torch.isfinite(output.sum()))
    if isinstance(output, (tuple, list)):
        return all(_all_finite(o) for o in output)
    if isinstance(output, dict):
        return all(_all_finite(o) for o in output.values())
    return True


def check_stream_input(layer: str, x: Tensor, channels: int, state: Optional[Tensor],
                       spatial: bool = True, finite: bool = True) -> None:
    """Raise a ValueError naming the problem if ``x`` (N, C, T, H, W) cannot continue a stream
    whose stored state tensor is ``state`` (N, *, *, H, W), or None for a new stream. The frame
    size is compared only if ``spatial``, NaN/Inf looked for only if ``finite``."""
    if x.dim() != 5:
        raise ValueError(f'{layer}: expected a (N, C, T, H, W) clip, got shape {tuple(x.shape)}')
    if x.shape[1] != channels:
        raise ValueError(f'{layer}: expected {channels} channels, got {x.shape[1]} '
                         f'(shape {tuple(x.shape)})')
    if x.shape[2] < 1:
        raise ValueError(f'{layer}: the clip has no frames (shape {tuple(x.shape)})')
    if finite and not torch.isfinite(x.sum()):  # one reduction: NaN/Inf make the sum non-finite
        raise NonFiniteError(f"{layer}: the input contains NaN or Inf; it was rejected and the "
                             "stream's state is unchanged")
    if state is None:
        return
    if state.shape[0] != x.shape[0] or (spatial and state.shape[-2:] != x.shape[-2:]):
        raise ValueError(
            f'{layer}: the stream was started with batch {state.shape[0]}' +
            (f' and frame size {tuple(state.shape[-2:])}' if spatial else '') +
            f', got batch {x.shape[0]}' +
            (f' and frame size {tuple(x.shape[-2:])}' if spatial else '') +
            "; the input was rejected and the stream's state is unchanged (reset the stream "
            'to start a new video)')
    if state.device != x.device:
        raise ValueError(f"{layer}: the stream's state is on {state.device}, the input on "
                         f'{x.device}')


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
