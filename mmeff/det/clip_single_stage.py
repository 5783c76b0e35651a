"""A single-stage detector trained on clips of consecutive frames (SkipConv gate training)."""
from mmdet.models.detectors import SingleStageDetector
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from torch import Tensor

from mmeff.engine import skipconv_gate_loss
from mmeff.layers import training_clip


@MODELS.register_module()
class ClipSingleStageDetector(SingleStageDetector):
    """``SingleStageDetector`` whose training batches are clips of ``clip_length`` frames.

    A batch holds B clips, frame-major per clip ((B * clip_length) images, e.g. from
    ``VideoClipSampler``). The loss runs inside ``mmeff.training_clip(clip_length)``, so
    SkipConv2d layers with trainable gates (``GumbelGate``) unroll their recurrence over each
    clip, and ``loss_gate = gate_loss_weight * skipconv_gate_loss(model)`` (the expected share
    of MACs executed per residual frame) joins the detection losses. Inference is the stock
    detector's.

    Args:
        clip_length: T, frames per clip (>= 2).
        gate_loss_weight: beta of the gate MAC loss.
        **kwargs: SingleStageDetector's.
    """

    def __init__(self, *args, clip_length: int, gate_loss_weight: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        if clip_length < 2:
            raise ValueError(f'ClipSingleStageDetector: clip_length must be >= 2, got {clip_length}')
        self.clip_length = clip_length
        self.gate_loss_weight = gate_loss_weight

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> dict:
        if batch_inputs.shape[0] % self.clip_length:
            raise ValueError(f'ClipSingleStageDetector: batch of {batch_inputs.shape[0]} frames is '
                             f'not a whole number of clips of {self.clip_length}; use '
                             'VideoClipSampler and a batch_size that is a multiple of clip_length')
        with training_clip(self.clip_length):
            losses = super().loss(batch_inputs, batch_data_samples)
        losses['loss_gate'] = skipconv_gate_loss(self, self.gate_loss_weight)
        return losses
