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

Execution: with a norm gate, one compiled call per frame (:func:`mmeff.ops.skip_conv2d_frame`)
runs the gate and the snapshot update and recomputes the fired blocks into the cached output
(sparse), or, when at least ``DENSE_CROSSOVER_DENSITY`` of the blocks fire, commits all blocks
and runs one dense conv. Other gates (``GumbelGate``) see the residual windows as tensors.
The cached output is handed to the caller without a copy while the caller neither writes into
it nor keeps it past the next frame; otherwise the layer notices and copies (see
:class:`SkipConvEntry`). Outputs under ``torch.inference_mode`` are always copies (inference
tensors have no version counter to notice writes by).

``reference='previous'`` is the published layer's behaviour, for parity experiments: residuals
against the previous raw frame, ``y += conv(residual)`` at fired blocks. Skipped residuals are
lost, so it drifts; its bias is still counted once.

A layer applied several times per frame (shared over pyramid levels) keeps one state and one
set of MAC counters per ``mmeff.layers.call_site`` key; the counters report the frame's sum.

A stream is reset automatically (with a log line) when the frame's shape, dtype or device
changes, and when the layer switches between train and eval mode. A frame with NaN or Inf is
rejected with a ValueError and the stream's state is left as it was.
"""
import sys
from dataclasses import dataclass
from typing import Dict, Hashable, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor, nn

from ..ops import (DENSE_CROSSOVER_DENSITY, block_input_windows, blocks_to_positions,
                   conv2d_output_size, conv_macs_per_position, delta_conv2d_frame,
                   dense_conv_macs, depthwise_conv2d, executed_conv_macs,
                   pack_delta_conv2d_weight, skip_conv2d_frame, sparse_conv2d)
from ..registry import MODELS
from .skip_gates import NormGate, ValueGate
from .stream_state import active_call_site, active_clip_length, active_stream

REFERENCES = ('accumulated', 'previous')
NON_FINITE_FRAME = ("SkipConv2d: the frame contains NaN or Inf; it was rejected and the stream's "
                    'state is unchanged')


def is_held_elsewhere(t: Tensor) -> bool:
    """Whether anything but its one owner refers to ``t`` or its memory (a caller that kept it,
    a view of it)."""
    # getrefcount: the owner's, this frame's and the call's; use count: t's and the temporary's
    return sys.getrefcount(t) > 3 or torch._C._storage_Use_Count(t.untyped_storage()._cdata) > 2


@dataclass
class SkipConvEntry:
    """What one SkipConv2d keeps for one stream.

    The cached output is handed out as it is (no copy) while the callers leave it alone. The
    key frame hands out a copy and keeps it as a probe: if the caller wrote into it (an
    in-place ReLU, ``out += identity``), the entry hands out copies from then on. Otherwise
    ``handed_version`` records the cache's version counter when it is handed out; a caller
    that starts writing into it later makes the next frame recompute the layer densely (and
    switch to copies). A caller that still holds the output (or a view of it) when the next
    frame comes gets it unchanged: the entry then updates a copy (copy on write).
    """
    key: Tuple  # (input shape, dtype, device, layer generation)
    reference: Tensor  # accumulated: (N, nBh, nBw, C_in, win_h, win_w) snapshots;
    #                    ValueGate: (N, C_in, H, W) committed input; previous: previous frame
    output: Tensor  # (N, C_out, H_out, W_out) cached output
    handed_version: Optional[int] = None  # output._version when handed out uncopied
    hands_out_copies: bool = False
    probe: Optional[Tuple[Tensor, int]] = None  # the key frame's copy and its version

    def output_intact(self) -> bool:
        """False when a caller wrote into the handed-out output (the cache is then wrong)."""
        return self.handed_version is None or self.output._version == self.handed_version

    def prepare_update(self) -> None:
        """Before the layer writes into the cached output: copy it if a caller still holds it."""
        if self.handed_version is not None and is_held_elsewhere(self.output):
            self.output = self.output.clone()
        self.handed_version = None

    def hand_out(self, key_frame: bool = False) -> Tensor:
        """The frame's output for the caller (the cache itself where that is safe)."""
        if self.output.is_inference():
            return self.output.clone()
        if self.probe is not None:  # what did the caller do with the key frame's copy?
            copy, version = self.probe
            self.hands_out_copies = self.hands_out_copies or copy._version != version
            self.probe = None
        if key_frame or self.hands_out_copies:
            copy = self.output.clone()
            if key_frame and not self.hands_out_copies:
                self.probe = (copy, copy._version)
            return copy
        self.handed_version = self.output._version
        return self.output


@dataclass(frozen=True)
class FrameGeometry:
    """What a frame's shape fixes for one layer (cached: frames of a video share it)."""
    shape: torch.Size  # (N, C_in, H, W)
    out_hw: Tuple[int, int]
    dense_macs: int
    macs_per_position: int  # of one output position: executed MACs = this x fired positions


@dataclass
class SiteCounts:
    """The counters of the last frame at one call site."""
    dense_macs: int = 0
    executed_macs: int = 0
    gate_usage: Optional[Tensor] = None


@MODELS.register_module()
class SkipConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same arguments and weights) that recomputes only changed blocks.

    Args:
        *args, **kwargs: as ``nn.Conv2d`` (zero padding, integer padding only).
        gate: config of the gate (``InputNormGate``, ``OutputNormGate``, ``ValueGate``,
            ``GumbelGate``), built from MODELS.
        reference: 'accumulated' (drift-free, default) or 'previous' (the paper's, drifts).

    In eval mode it is stateful per stream (``mmeff.stream``) and call site; after each frame,
    ``dense_macs`` and ``executed_macs`` hold that frame's MAC counts (summed over call sites). In training mode it is a
    dense conv, except inside ``mmeff.training_clip(T)`` with a trainable gate, where it runs
    the recurrence over clips of T frames (see ``_forward_clip``).
    """

    def __init__(self, *args, gate: Optional[dict] = None, reference: str = 'accumulated', **kwargs):
        super().__init__(*args, **kwargs)
        if self.padding_mode != 'zeros' or isinstance(self.padding, str):
            raise ValueError('SkipConv2d needs zero padding given as integers, got '
                             f'padding={self.padding!r}, padding_mode={self.padding_mode!r}')
        if reference not in REFERENCES:
            raise ValueError(f'SkipConv2d: reference must be one of {REFERENCES}, got {reference!r}')
        self.gate = MODELS.build(gate if gate is not None else dict(type='InputNormGate'))
        if isinstance(self.gate, ValueGate) and reference != 'accumulated':
            raise ValueError("SkipConv2d: a ValueGate needs reference='accumulated', got "
                             f'{reference!r}')
        if hasattr(self.gate, 'attach'):
            self.gate.attach(self)
        self.reference = reference
        self._counts: Dict[Hashable, SiteCounts] = {}
        self._own_entries: Dict[Hashable, SkipConvEntry] = {}
        self._generation = 0
        self._frame_geometry: Optional[FrameGeometry] = None
        self._packed_weight: Optional[Tuple[Tuple[int, int], Tensor]] = None

    # ------------------------------------------------------------------ MAC counters

    def _site_counts(self) -> SiteCounts:
        return self._counts.setdefault(active_call_site(), SiteCounts())

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
        counts = self._site_counts()
        return counts.dense_macs, counts.executed_macs

    # -------------------------------------------------------------------- stream plumbing

    def reset_stream(self) -> None:
        """Forget this layer's default stream (``mmeff.reset_streams`` calls it)."""
        self._own_entries = {}

    def train(self, mode: bool = True) -> 'SkipConv2d':
        if mode != self.training:
            self._generation += 1  # invalidates every stream's entry for this layer
            self._own_entries = {}
        return super().train(mode)

    def _stream_entries(self) -> Dict[Hashable, SkipConvEntry]:
        """This layer's entries (one per call site) in the active stream."""
        state = active_stream()
        if state is None:
            return self._own_entries
        entries = state.get(self)
        if entries is None:
            entries = {}
            state.set(self, entries)
        return entries

    # ----------------------------------------------------------------------- geometry

    def output_size(self, x: Tensor) -> Tuple[int, int]:
        return conv2d_output_size(tuple(x.shape[-2:]), self.kernel_size, self.stride, self.padding,
                                  self.dilation)

    def frame_geometry(self, x: Tensor) -> FrameGeometry:
        """Output size and MAC counts of a frame of ``x``'s shape (cached per shape)."""
        geometry = self._frame_geometry
        if geometry is None or geometry.shape != x.shape:
            out_hw = self.output_size(x)
            geometry = FrameGeometry(x.shape, out_hw,
                                     dense_conv_macs(self.weight, (x.shape[0], *out_hw)),
                                     conv_macs_per_position(self.weight))
            self._frame_geometry = geometry
        return geometry

    def block_windows(self, x: Tensor) -> Tensor:
        """View of the input window of every output block: (N, nBh, nBw, C_in, win_h, win_w)."""
        return block_input_windows(x, self.gate.block_size, self.kernel_size, self.stride,
                                   self.padding, self.dilation)

    def blocks_to_positions(self, blocks: Tensor, out_hw: Tuple[int, int]) -> Tensor:
        """(N, nBh, nBw) bool -> (N, H_out, W_out) bool."""
        return blocks_to_positions(blocks, self.gate.block_size, out_hw)

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
            geometry = self.frame_geometry(x)
            counts.dense_macs = geometry.dense_macs
            key = (x.shape, x.dtype, x.device, self._generation)
            entries = self._stream_entries()
            entry = entries.get(site)
            if entry is not None and entry.key == key and entry.output_intact():
                if self.reference == 'previous':
                    counts.executed_macs = self._update_previous(x, entry, geometry.out_hw)
                else:
                    counts.executed_macs = self._update_accumulated(x, entry, geometry)
            else:
                if not torch.isfinite(x.sum()):
                    raise ValueError(NON_FINITE_FRAME)
                copies = entry is not None and entry.key == key  # a caller wrote into it
                if entry is not None and entry.key[3] == self._generation and not copies:
                    print_log(f'SkipConv2d: frame {tuple(x.shape)} {x.dtype} on {x.device} differs '
                              f'from the stream\'s {entry.key[:3]}; the stream is reset',
                              logger='current')
                entry = entries[site] = self._key_frame(x, key)
                entry.hands_out_copies = copies
                counts.executed_macs = counts.dense_macs
                return entry.hand_out(key_frame=True)
            return entry.hand_out()

    def _forward_training(self, x: Tensor, counts: SiteCounts) -> Tensor:
        """Dense, or the clip recurrence inside ``training_clip`` with a trainable gate."""
        clip = active_clip_length()
        trainable_gate = any(p.requires_grad for p in self.gate.parameters())
        if clip is None or clip < 2 or not trainable_gate or self.reference != 'accumulated':
            counts.gate_usage = None
            frames = x.shape[0] // clip if clip else x.shape[0]
            counts.dense_macs = dense_conv_macs(self.weight, (frames, *self.output_size(x)))
            return self.dense(x)
        return self._forward_clip(x, clip, counts)

    def _key_frame(self, x: Tensor, key: Tuple) -> SkipConvEntry:
        if self.reference == 'accumulated' and not isinstance(self.gate, ValueGate):
            reference = self.block_windows(x).contiguous()
        else:
            reference = x.detach().clone()  # x's memory format (NCHW or channels_last)
        return SkipConvEntry(key=key, reference=reference, output=self.dense(x))

    def packed_weight(self) -> Tensor:
        """The weight laid out for :func:`mmeff.ops.delta_conv2d_frame` (cached until the
        weight changes)."""
        stamp = (self.weight.data_ptr(), self.weight._version)
        if self._packed_weight is None or self._packed_weight[0] != stamp:
            self._packed_weight = (stamp, pack_delta_conv2d_weight(self.weight.detach(),
                                                                   self.groups))
        return self._packed_weight[1]

    def _forward_clip(self, x: Tensor, clip: int, counts: SiteCounts) -> Tensor:
        """Training: the accumulated-reference recurrence unrolled over clips of ``clip`` frames.

        ``x`` is (B * clip, C, H, W), frames of a clip consecutive. Everything is computed
        densely; the gate's straight-through decisions blend the new conv output and window
        into the cached ones, so gradients reach the gate. Sets ``gate_usage``, the mean
        firing rate over frames 1..clip-1 (a differentiable scalar for the MAC loss).
        """
        if x.shape[0] % clip:
            raise ValueError(f'SkipConv2d: batch {x.shape[0]} is not a multiple of the clip '
                             f'length {clip}')
        batch = x.shape[0] // clip
        out_hw = self.output_size(x)
        dense = self.dense(x)
        counts.dense_macs = dense_conv_macs(self.weight, (batch, *out_hw))
        frames = dense.view(batch, clip, *dense.shape[1:])
        windows = self.block_windows(x)
        windows = windows.reshape(batch, clip, *windows.shape[1:])
        reference, output, outputs, usage = windows[:, 0], frames[:, 0], [frames[:, 0]], []
        for t in range(1, clip):
            fire = self.gate(windows[:, t] - reference, self.weight).to(x.dtype)
            usage.append(fire.mean())
            at_positions = self.blocks_to_positions(fire, out_hw).unsqueeze(1)
            output = at_positions * frames[:, t] + (1 - at_positions) * output
            at_windows = fire[..., None, None, None]
            reference = at_windows * windows[:, t] + (1 - at_windows) * reference
            outputs.append(output)
        counts.gate_usage = torch.stack(usage).mean()
        return torch.stack(outputs, dim=1).reshape(dense.shape)

    def _update_accumulated(self, x: Tensor, entry: SkipConvEntry, geometry: FrameGeometry) -> int:
        """Recompute the changed blocks into ``entry``; returns the executed MACs."""
        entry.prepare_update()
        if isinstance(self.gate, ValueGate):  # per-value commit and input-sparse conv
            if x.stride() != entry.reference.stride():  # the stream's memory format
                x = torch.empty_like(entry.reference).copy_(x)
            try:
                return delta_conv2d_frame(x, entry.reference, entry.output, self.weight,
                                          self.packed_weight(), self.gate.threshold,
                                          stride=self.stride, padding=self.padding,
                                          dilation=self.dilation, groups=self.groups,
                                          dense_above=self.gate.dense_above)
            except ValueError as error:  # NaN/Inf, found before any state changed
                raise ValueError(NON_FINITE_FRAME) from error
        if isinstance(self.gate, NormGate):  # gate, snapshot update and recompute in one call
            try:
                fired = skip_conv2d_frame(x, entry.reference, entry.output, self.weight,
                                          self.bias, self.gate.limit(self.weight),
                                          block_size=self.gate.block_size, stride=self.stride,
                                          padding=self.padding, dilation=self.dilation,
                                          groups=self.groups, dense_above=DENSE_CROSSOVER_DENSITY)
            except ValueError as error:  # NaN/Inf, found before any state changed
                raise ValueError(NON_FINITE_FRAME) from error
            return geometry.macs_per_position * fired
        if not torch.isfinite(x.sum()):
            raise ValueError(NON_FINITE_FRAME)
        windows = self.block_windows(x)
        fire = self.gate(windows - entry.reference, self.weight)
        entry.reference[fire] = windows[fire]
        mask = self.blocks_to_positions(fire, geometry.out_hw)
        fired = int(mask.sum())
        if fired == mask.numel():
            entry.output = self.dense(x)
        elif fired:
            sparse_conv2d(x, self.weight, self.bias, mask, stride=self.stride,
                          padding=self.padding, dilation=self.dilation, groups=self.groups,
                          out=entry.output)
        return geometry.macs_per_position * fired

    def _update_previous(self, x: Tensor, entry: SkipConvEntry, out_hw: Tuple[int, int]) -> int:
        """The paper's update: residual against the previous frame; returns the executed MACs."""
        if not torch.isfinite(x.sum()):
            raise ValueError(NON_FINITE_FRAME)
        entry.prepare_update()
        residual = x - entry.reference
        fire = self.gate(self.block_windows(residual), self.weight)
        mask = self.blocks_to_positions(fire, out_hw)
        executed = executed_conv_macs(self.weight, mask)
        if executed:  # bias stays counted once
            entry.output += sparse_conv2d(residual, self.weight, None, mask, stride=self.stride,
                                          padding=self.padding, dilation=self.dilation,
                                          groups=self.groups)
        entry.reference.copy_(x)
        return executed

    def extra_repr(self) -> str:
        return super().extra_repr() + f', reference={self.reference}'
