"""``ClipTrainingMixin``: a toolbox model trained on clips of consecutive frames with the gate
MAC loss of Skip-Convolutions."""
from torch import Tensor

from ..layers import training_clip
from .gate_loss import skipconv_gate_loss


class ClipTrainingMixin:
    """Mix in before a toolbox model class whose ``loss(inputs, data_samples)`` returns a loss
    dict (mmdet's ``SingleStageDetector``, mmpose's ``TopdownPoseEstimator``).

    A training batch holds B clips of ``clip_len`` frames, frame-major per clip ((B *
    clip_len) images). ``loss`` checks that layout, runs the model's own loss inside
    ``mmeff.training_clip(clip_len)``, so SkipConv2d layers with trainable gates
    (``GumbelGate``) unroll their recurrence over each clip, and adds two entries:

    * ``loss_gate = gate_loss_weight * skipconv_gate_loss(model)``, optimised with the others;
    * ``mac_share``: the expected share of the conv MACs executed per residual frame
      (unweighted, detached), logged only.

    Inference is the model's own.

    Args:
        clip_len: T, frames per training clip (>= 2).
        gate_loss_weight: beta of the gate MAC loss.
        *args, **kwargs: the model class's.
    """

    #: How to get batches of whole clips; the error for a batch of partial clips names it.
    clip_batches_hint = 'feed whole clips, frame-major'

    def __init__(self, *args, clip_len: int, gate_loss_weight: float = 1.0, **kwargs):
        if clip_len < 2:
            raise ValueError(f'{type(self).__name__}: clip_len must be >= 2, got {clip_len}')
        super().__init__(*args, **kwargs)
        self.clip_len = clip_len
        self.gate_loss_weight = float(gate_loss_weight)

    def loss(self, inputs: Tensor, data_samples) -> dict:
        """The model's losses on a batch of clips, with ``loss_gate`` and ``mac_share``."""
        if inputs.shape[0] % self.clip_len:
            raise ValueError(f'{type(self).__name__}: batch of {inputs.shape[0]} frames is not '
                             f'made of whole clips of clip_len={self.clip_len}; '
                             f'{self.clip_batches_hint}')
        with training_clip(self.clip_len):
            losses = super().loss(inputs, data_samples)
        share = skipconv_gate_loss(self, 1.0)
        losses['loss_gate'] = self.gate_loss_weight * share
        losses['mac_share'] = share.detach()
        return losses
