"""Validation and test loops that run videos frame by frame through stateful (SkipConv) models.

``VideoTestLoop`` / ``VideoValLoop`` are mmengine's ``TestLoop`` / ``ValLoop`` with two
additions per iteration (batch size 1, one frame):

* before the frame: when its ``video_id`` differs from the previous frame's, the model's
  streams are reset (:func:`mmeff.reset_streams`), so every video starts with a key frame and
  no state leaks between videos; within a video, ``frame_id`` must increase (a dataset such as
  ``CocoVideoFrameDataset`` with a non-shuffling sampler guarantees both);
* after the model ran: the frame's dense and executed MACs of all ``SkipConv2d`` layers are
  written into the output data samples (``skipconv_dense_macs``, ``skipconv_executed_macs``)
  for :class:`~mmeff.engine.SkipConvMacMetric`.

Frames need ``video_id`` and ``frame_id`` in their metainfo (``PackDetInputs(meta_keys=...)``).
"""
from typing import Optional, Sequence

import torch
from mmengine.registry import LOOPS
from mmengine.runner import TestLoop, ValLoop
from mmengine.runner.amp import autocast
from mmengine.runner.loops import _update_losses
from torch import nn

from ..layers import SkipConv2d, reset_streams


class VideoFrameTracker:
    """Follows the frames of a sequential video loader and resets ``model``'s streams at
    every new video."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.video_id = None
        self.frame_id: Optional[int] = None
        self.videos = 0

    def start_frame(self, data_batch: dict) -> None:
        samples = data_batch.get('data_samples') if isinstance(data_batch, dict) else None
        if not samples or len(samples) != 1:
            raise ValueError('video loops run one frame per iteration: set the dataloader\'s '
                             f'batch_size to 1 (got {len(samples) if samples else 0} samples)')
        meta = samples[0].metainfo
        missing = [k for k in ('video_id', 'frame_id') if k not in meta]
        if missing:
            raise KeyError(f'video loops need {missing} in the data samples\' metainfo: use a '
                           'COCO-video dataset (CocoVideoFrameDataset) and add them to '
                           'PackDetInputs(meta_keys=...)')
        video_id, frame_id = meta['video_id'], int(meta['frame_id'])
        if video_id != self.video_id:
            reset_streams(self.model)
            self.video_id, self.videos = video_id, self.videos + 1
        elif self.frame_id is not None and frame_id <= self.frame_id:
            raise ValueError(f'video {video_id}: frame {frame_id} came after frame '
                             f'{self.frame_id}; video loops need each video\'s frames in order '
                             '(a non-shuffling sampler over a dataset sorted by video and frame)')
        self.frame_id = frame_id


def annotate_macs(model: nn.Module, outputs: Sequence) -> None:
    """Write the last frame's SkipConv MAC totals into its output data sample."""
    layers = [m for m in model.modules() if isinstance(m, SkipConv2d)]
    if not layers:
        return
    dense = sum(m.dense_macs for m in layers)
    executed = sum(m.executed_macs for m in layers)
    for sample in outputs:
        sample.set_metainfo(dict(skipconv_dense_macs=dense, skipconv_executed_macs=executed))


class _VideoLoopMixin:
    """The per-frame steps shared by the validation and test loops."""

    def _run_frame(self, idx: int, data_batch: dict, stage: str, step) -> None:
        if idx == 0:  # a new pass over the data
            self._tracker = VideoFrameTracker(self.runner.model)
        self.runner.call_hook(f'before_{stage}_iter', batch_idx=idx, data_batch=data_batch)
        self._tracker.start_frame(data_batch)
        with autocast(enabled=self.fp16):
            outputs = step(data_batch)
        annotate_macs(self.runner.model, outputs)
        losses = self.val_loss if stage == 'val' else self.test_loss
        outputs, losses = _update_losses(outputs, losses)
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook(f'after_{stage}_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=outputs)


@LOOPS.register_module()
class VideoTestLoop(_VideoLoopMixin, TestLoop):
    """``TestLoop`` over videos: per-video stream reset, SkipConv MACs per frame."""

    @torch.no_grad()
    def run_iter(self, idx, data_batch: dict) -> None:
        self._run_frame(idx, data_batch, 'test', self.runner.model.test_step)


@LOOPS.register_module()
class VideoValLoop(_VideoLoopMixin, ValLoop):
    """``ValLoop`` over videos: per-video stream reset, SkipConv MACs per frame."""

    @torch.no_grad()
    def run_iter(self, idx, data_batch: dict) -> None:
        self._run_frame(idx, data_batch, 'val', self.runner.model.val_step)
