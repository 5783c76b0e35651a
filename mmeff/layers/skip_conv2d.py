"""``SkipConv2d``: a drift-free, stateful Skip-Convolution (Habibian et al., CVPR 2021).

Per stream, the layer caches its output ``y`` and, for every b x b block of output positions,
the input window that block was computed from (its snapshot). On each frame it measures, per
block, how far the current input window is from the snapshot, lets the gate pick the blocks to
recompute, recomputes exactly those with :func:`mmeff.ops.sparse_conv2d` writing into ``y``,
and stores their current windows as new snapshots. Hence, always,

    y[block] == conv(snapshot[block]) + bias          (exact, bias included once)

and the error against the dense conv of the current frame is bounded by the gate's threshold
(see :mod:`mmeff.layers.skip_gates`), however long the video: changes that do not fire keep
accumulating against the snapshot until they do. ``threshold=0`` is exact.

With a ``ValueGate`` the layer instead keeps the input itself as its reference and works per
value: values that changed by more than the threshold are committed and only they are
multiplied (:func:`mmeff.ops.delta_conv2d_frame`, one compiled call per frame), so that
``y == conv(reference) + bias`` (up to float rounding: changes are added) with every value of
the reference within the threshold of the input.

Execution belongs to the gate (:class:`mmeff.layers.skip_gates.SkipGate`): the layer keeps
the stream's entry, the gate updates it in place. The caller always gets a copy of the cached
output: whether anything else still refers to a tensor's memory (a ``.detach()`` alias kept
past the next frame) cannot be told with PyTorch's public API, so handing out the cache itself
could change a kept output silently. In the models measured the copy is paid anyway: an
in-place ReLU or residual addition writes into most layers' outputs (see docs/skipconv.md).

``reference='previous'`` is the published layer's behaviour, for parity experiments: residuals
against the previous raw frame, ``y += conv(residual)`` at fired blocks. Skipped residuals are
lost, so it drifts; its bias is still counted once.

A layer applied several times per frame (shared over pyramid levels) keeps one state and one
set of MAC counters per ``mmeff.layers.call_site`` key; the counters report the frame's sum.

A stream is reset automatically (with a log line) when the frame's shape, dtype or device
changes, when the weight or bias changes (a loaded checkpoint, a training step, BatchNorm
folding: tensor version counters tell), and when the layer switches between train and eval
mode. A frame with NaN or Inf is rejected with :class:`mmeff.ops.errors.NonFiniteError` (a
ValueError) and the stream's state is left as it was.
"""
from dataclasses import dataclass, field
from typing import Dict, Hashable, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor, nn

from ..ops import (conv2d_output_size, conv_macs_per_position, dense_conv_macs, depthwise_conv2d,
                   pack_delta_conv2d_weight)
from ..ops.extension import conv_geometry
from ..registry import MODELS
from .skip_gates import BlockGate, SkipGate, non_finite_frame
from .stream_state import StreamStateful, UndoLog, active_call_site, active_clip_length

REFERENCES = ('accumulated', 'previous')


def tensor_stamp(t: Optional[Tensor]) -> Tuple[int, int]:
    """Changes whenever ``t``'s values may have changed: (memory address, version counter)."""
    return (0, 0) if t is None else (t.data_ptr(), t._version)


@dataclass
class SkipConvEntry:
    """What one SkipConv2d keeps for one stream and call site; the gate updates it in place.

    In a stream transaction the entry keeps an undo log (``undo``, from :meth:`begin` to
    :meth:`commit` or :meth:`rollback`): the gate records in it, before each in-place change,
    what the change overwrites (the logged frame ops' records), so that a failed frame costs
    only what it changed.
    """
    frame_key: Tuple  # (input shape, dtype, device) of the stream's frames
    weights_key: Tuple  # (layer generation, weight stamp, bias stamp) the cache was made with
    reference: Tensor  # what the gate measures changes against (see SkipGate.key_reference)
    output: Tensor  # (N, C_out, H_out, W_out) cached output
    undo: Optional[UndoLog] = field(default=None, repr=False, compare=False)

    def fork(self) -> 'SkipConvEntry':
        """An independent copy (for forked streams), without the undo log."""
        return SkipConvEntry(self.frame_key, self.weights_key, self.reference.clone(),
                             self.output.clone())

    def begin(self) -> None:
        """Start logging changes (a transaction read this entry)."""
        self.undo = UndoLog()

    def commit(self) -> None:
        """Keep the changes; stop logging."""
        self.undo = None

    def rollback(self) -> None:
        """Take back every change since :meth:`begin`, bit for bit; stop logging."""
        undo, self.undo = self.undo, None
        undo.rollback()


@dataclass(frozen=True)
class FrameGeometry:
    """What a frame's shape fixes for one layer (cached: frames of a video share it)."""
    shape: torch.Size  # (N, C_in, H, W)
    out_hw: Tuple[int, int]
    dense_macs: int


@dataclass
class SiteCounts:
    """The counters of the last frame at one call site."""
    dense_macs: int = 0
    executed_macs: int = 0
    gate_usage: Optional[Tensor] = None


@MODELS.register_module()
class SkipConv2d(StreamStateful, nn.Conv2d):
    """``nn.Conv2d`` (same arguments and weights) that recomputes only what changed.

    Args:
        *args, **kwargs: as ``nn.Conv2d`` (zero padding, integer padding only).
        gate: config of the gate (``InputNormGate``, ``OutputNormGate``, ``ValueGate``,
            ``GumbelGate``, or any :class:`~mmeff.layers.skip_gates.SkipGate`), built from MODELS.
        reference: 'accumulated' (drift-free, default) or 'previous' (the paper's, drifts).

    In eval mode it is stateful per stream (``mmeff.stream``) and call site; after each frame,
    ``dense_macs`` and ``executed_macs`` hold that frame's MAC counts (summed over call sites).
    In training mode it is a dense conv, except inside ``mmeff.training_clip(T)`` with a
    trainable gate, where it runs the gate's clip recurrence (``BlockGate.forward_clip``).
    """

    def __init__(self, *args, gate: Optional[dict] = None, reference: str = 'accumulated',
                 **kwargs):
        super().__init__(*args, **kwargs)
        if self.padding_mode != 'zeros' or isinstance(self.padding, str):
            raise ValueError('SkipConv2d needs zero padding given as integers, got '
                             f'padding={self.padding!r}, padding_mode={self.padding_mode!r}')
        conv_geometry('SkipConv2d', self.stride, self.padding, self.dilation)
        if reference not in REFERENCES:
            raise ValueError(
                f'SkipConv2d: reference must be one of {REFERENCES}, got {reference!r}')
        self.reference = reference
        gate = MODELS.build(gate if gate is not None else dict(type='InputNormGate'))
        if not isinstance(gate, SkipGate):
            raise TypeError(f'SkipConv2d: gate must build a SkipGate, got {type(gate).__name__}')
        gate.attach(self)
        self.gate = gate
        self._counts: Dict[Hashable, SiteCounts] = {}
        self._generation = 0
        self._frame_geometry: Optional[FrameGeometry] = None
        self._packed_weight: Optional[Tuple[Tuple[int, int], Tensor]] = None

    # ------------------------------------------------------------------ MAC counters

    @property
    def dense_macs(self) -> int:
        return sum(c.dense_macs for c in self._counts.values())

    @property
    def executed_macs(self) -> int:
        return sum(c.executed_macs for c in self._counts.values())

    @property
    def gate_usage(self) -> Optional[Tensor]:
        """Mean firing rate of the last clip, MAC-weighted over call sites (None: no gate ran)."""
        counts = list(self._counts.values())
        if all(c.gate_usage is None for c in counts):
            return None
        if len(counts) == 1:
            return counts[0].gate_usage
        total = sum(c.dense_macs for c in counts)
        return sum(c.dense_macs / total * (c.gate_usage if c.gate_usage is not None else 1.0)
                   for c in counts)

    def call_macs(self) -> Tuple[int, int]:
        """(dense, executed) MACs of the last call at the active call site."""
        counts = self._counts.setdefault(active_call_site(), SiteCounts())
        return counts.dense_macs, counts.executed_macs

    def macs_per_position(self) -> int:
        """MACs of one output position: executed MACs = this x recomputed positions."""
        return conv_macs_per_position(self.weight)

    # -------------------------------------------------------------------- stream plumbing

    def train(self, mode: bool = True) -> 'SkipConv2d':
        if mode != self.training:
            self._generation += 1  # invalidates every stream's entry for this layer
            self.reset_stream()
        return super().train(mode)

    def weights_key(self) -> Tuple:
        """Changes when the cached outputs of this layer no longer match its weights."""
        return (self._generation, tensor_stamp(self.weight), tensor_stamp(self.bias))

    # ----------------------------------------------------------------------- geometry

    def output_size(self, x: Tensor) -> Tuple[int, int]:
        return conv2d_output_size(tuple(x.shape[-2:]), self.kernel_size, self.stride, self.padding,
                                  self.dilation)

    def frame_geometry(self, x: Tensor) -> FrameGeometry:
        """Output size and dense MACs of a frame of ``x``'s shape (cached per shape)."""
        geometry = self._frame_geometry
        if geometry is None or geometry.shape != x.shape:
            out_hw = self.output_size(x)
            geometry = FrameGeometry(x.shape, out_hw,
                                     dense_conv_macs(self.weight, (x.shape[0], *out_hw)))
            self._frame_geometry = geometry
        return geometry

    def block_windows(self, x: Tensor) -> Tensor:
        """View of the input window of every output block of a block gate:
        (N, nBh, nBw, C_in, win_h, win_w)."""
        if not isinstance(self.gate, BlockGate):
            raise TypeError(f'SkipConv2d: a {type(self.gate).__name__} has no blocks')
        return self.gate.block_windows(self, x)

    # ------------------------------------------------------------------------ forward

    def dense(self, x: Tensor) -> Tensor:
        if x.shape[0] == 1 and self.groups == self.in_channels == self.out_channels:
            # one depthwise frame: mmeff's kernel (oneDNN's per-call cost dominates there)
            return depthwise_conv2d(x, self.weight, self.bias, stride=self.stride,
                                    padding=self.padding, dilation=self.dilation)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def forward(self, x: Tensor) -> Tensor:
        site = active_call_site()
        counts = self._counts.get(site)  # written directly: nn.Module attribute writes are slow
        if counts is None:
            counts = self._counts[site] = SiteCounts()
        if self.training:
            return self._forward_training(x, counts)
        with torch.no_grad():
            counts.dense_macs = self.frame_geometry(x).dense_macs
            frame_key, weights_key = (x.shape, x.dtype, x.device), self.weights_key()
            entry: Optional[SkipConvEntry] = self.load_entry()
            if entry is not None and entry.frame_key == frame_key and \
                    entry.weights_key == weights_key:
                counts.executed_macs = self.gate.update(self, x, entry)
            else:
                entry = self._key_frame(x, entry, frame_key, weights_key)
                counts.executed_macs = counts.dense_macs
            return entry.output.clone()

    def _key_frame(self, x: Tensor, previous: Optional[SkipConvEntry], frame_key: Tuple,
                   weights_key: Tuple) -> SkipConvEntry:
        """Start (or restart) the stream at frame ``x``: dense conv, new reference."""
        if x.dtype != self.weight.dtype or x.device != self.weight.device:
            raise ValueError(f'SkipConv2d: the frame is {x.dtype} on {x.device}, the weight '
                             f'{self.weight.dtype} on {self.weight.device}; convert one of them '
                             "(the stream's state is unchanged)")
        if not torch.isfinite(x.sum()):
            raise non_finite_frame(self)
        if previous is not None and previous.weights_key[0] == self._generation:
            why = (f"frame {tuple(x.shape)} {x.dtype} on {x.device} differs from the stream's "
                   f'{previous.frame_key}'
                   if previous.frame_key != frame_key else 'the weights changed')
            print_log(f'SkipConv2d: {why}; the stream is reset', logger='current')
        entry = SkipConvEntry(frame_key, weights_key, self.gate.key_reference(self, x),
                              self.dense(x))
        self.store_entry(entry)
        return entry

    def _forward_training(self, x: Tensor, counts: SiteCounts) -> Tensor:
        """Dense, or the gate's clip recurrence inside ``training_clip`` with a trainable gate."""
        clip = active_clip_length()
        if clip is None or clip < 2 or not self.gate.trainable or \
                self.reference != 'accumulated':
            counts.gate_usage = None
            frames = x.shape[0] // clip if clip else x.shape[0]
            counts.dense_macs = dense_conv_macs(self.weight, (frames, *self.output_size(x)))
            return self.dense(x)
        if x.shape[0] % clip:
            raise ValueError(f'SkipConv2d: batch {x.shape[0]} is not a multiple of the clip '
                             f'length {clip}')
        counts.dense_macs = dense_conv_macs(self.weight, (x.shape[0] // clip, *self.output_size(x)))
        output, counts.gate_usage = self.gate.forward_clip(self, x, clip)
        return output

    def packed_weight(self) -> Tensor:
        """The weight laid out for :func:`mmeff.ops.delta_conv2d_frame` (cached until the
        weight changes)."""
        stamp = tensor_stamp(self.weight)
        if self._packed_weight is None or self._packed_weight[0] != stamp:
            self._packed_weight = (stamp, pack_delta_conv2d_weight(self.weight.detach(),
                                                                   self.groups))
        return self._packed_weight[1]

    def extra_repr(self) -> str:
        return super().extra_repr() + f', reference={self.reference}'
