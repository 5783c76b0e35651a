"""Validation and test loops that run videos frame by frame, one SkipConv stream per track.

The dataset must yield the frames of each stream (a video, or one tracked person of a video)
consecutively and in temporal order, and tag every sample's metainfo with ``stream_key``
(mmeff's ``VideoPoseDataset`` does both). The loops split every batch into single frames, run
each inside ``mmeff.stream(state)`` with one :class:`~mmeff.layers.StreamState` per stream, and
start a fresh state (a key frame) whenever ``stream_key`` changes. A sample without
``stream_key`` is its own stream.

Each output sample gets ``dense_macs`` and ``executed_macs`` (conv MACs of its frame, see
:class:`~mmeff.utils.MacCounter`) in its metainfo, and ``backbone_dense_macs`` and
``backbone_executed_macs`` (those of the layers under a module named ``backbone``) when the
model has one; ``FrameMacsMetric`` averages them.
Dense models run through the same loops (their executed MACs equal the dense ones).

Under several processes the metrics get their results in dataset order
(:class:`~mmeff.engine.ordered_evaluation.DatasetOrderEvaluator`), so a stream sampler's uneven
split (``VideoSampler``) gives the metrics of a single process.
"""
from typing import List, Optional, Sequence

import torch
from mmengine.registry import LOOPS
from mmengine.runner.amp import autocast
from mmengine.runner.loops import TestLoop, ValLoop, _update_losses

from ..layers import StreamState, stream
from ..utils.mac_counter import MacCounter
from .ordered_evaluation import DatasetOrderEvaluator


def split_frames(data_batch: dict) -> List[dict]:
    """Split a pseudo-collated batch {'inputs': [...], 'data_samples': [...]} into frames."""
    inputs, samples = data_batch['inputs'], data_batch['data_samples']
    if len(inputs) != len(samples):
        raise ValueError(f'video loop: {len(inputs)} inputs but {len(samples)} data samples')
    return [dict(inputs=[x], data_samples=[s]) for x, s in zip(inputs, samples)]


class VideoStreams:
    """The stream state of the current track; a new one whenever the track changes."""

    def __init__(self):
        self.key: Optional[str] = None
        self.state = StreamState()
        self.resets = 0

    def state_for(self, key: Optional[str]) -> StreamState:
        if key is None or key != self.key:
            self.key, self.state = key, StreamState()
            self.resets += 1
        return self.state


def run_video_frames(model: torch.nn.Module, step: str, data_batch: dict, streams: VideoStreams,
                     counter: MacCounter, fp16: bool = False) -> list:
    """``model.<step>`` (``val_step`` / ``test_step``) frame by frame in each frame's stream;
    ``counter`` counts ``model``'s MACs, and each frame's go into its samples' metainfo."""
    outputs = []
    for frame in split_frames(data_batch):
        key = frame['data_samples'][0].metainfo.get('stream_key')
        counter.reset()  # what ran between frames (calibration hooks) is not the frame's
        with stream(streams.state_for(key)), autocast(enabled=fp16):
            out = getattr(model, step)(frame)
        macs = counter.update()
        meta = dict(dense_macs=macs.dense, executed_macs=macs.executed)
        if counter.has_part('backbone'):
            backbone = counter.last_frame_part('backbone')
            meta.update(backbone_dense_macs=backbone.dense,
                        backbone_executed_macs=backbone.executed)
        for sample in out:
            sample.set_metainfo(meta)
        outputs.extend(out)
    return outputs


class _VideoLoopMixin:
    """Shared by the two loops: the MAC counter and the streams live for one run, and the
    metrics are evaluated in dataset order across processes."""

    _step: str
    _losses_attr: str

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.evaluator = DatasetOrderEvaluator.of(self.evaluator, self.dataloader)

    def run(self) -> dict:
        self._streams = VideoStreams()
        with MacCounter(self.runner.model) as self._counter:
            return super().run()

    @torch.no_grad()
    def run_iter(self, idx: int, data_batch: Sequence[dict]) -> None:
        stage = self._step.split('_')[0]
        self.runner.call_hook(f'before_{stage}_iter', batch_idx=idx, data_batch=data_batch)
        outputs = run_video_frames(self.runner.model, self._step, data_batch, self._streams,
                                   self._counter, self.fp16)
        outputs, losses = _update_losses(outputs, getattr(self, self._losses_attr))
        setattr(self, self._losses_attr, losses)
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook(f'after_{stage}_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=outputs)


@LOOPS.register_module()
class VideoValLoop(_VideoLoopMixin, ValLoop):
    """``ValLoop`` over videos, frame by frame with per-track SkipConv streams (module doc)."""
    _step, _losses_attr = 'val_step', 'val_loss'


@LOOPS.register_module()
class VideoTestLoop(_VideoLoopMixin, TestLoop):
    """``TestLoop`` over videos, frame by frame with per-track SkipConv streams (module doc)."""
    _step, _losses_attr = 'test_step', 'test_loss'


__all__ = ['VideoValLoop', 'VideoTestLoop', 'VideoStreams', 'run_video_frames', 'split_frames']
