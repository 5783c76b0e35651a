"""``ClipTopdownPoseEstimator``: mmpose's top-down estimator trained on clips with the gate
MAC loss of Skip-Convolutions."""
from typing import Optional

from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.registry import MODELS
from torch import Tensor

from ..engine import skipconv_gate_loss
from ..layers import training_clip


@MODELS.register_module()
class ClipTopdownPoseEstimator(TopdownPoseEstimator):
    """``TopdownPoseEstimator`` whose training batches are clips (B clips x ``clip_len`` frames,
    frame-major per clip, as ``VideoClipDataset`` + ``clip_pseudo_collate`` deliver them).

    ``loss`` runs inside ``mmeff.training_clip(clip_len)``, so SkipConv2d layers with trainable
    (Gumbel) gates unroll their recurrence over each clip, and adds
    ``loss_gate = gate_loss_weight * skipconv_gate_loss(self)``, the expected share of the conv
    MACs executed per residual frame. ``mac_share`` (that share, unweighted) is logged. Wrap it
    in ``SkipConvModel`` to convert its convs. Inference is the stock estimator's.

    Args:
        clip_len: frames per training clip.
        gate_loss_weight: beta of the gate loss.
        **kwargs: as ``TopdownPoseEstimator``.
    """

    def __init__(self, *args, clip_len: int = 4, gate_loss_weight: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        if clip_len < 2:
            raise ValueError(f'ClipTopdownPoseEstimator: clip_len must be >= 2, got {clip_len}')
        self.clip_len = clip_len
        self.gate_loss_weight = float(gate_loss_weight)

    def loss(self, inputs: Tensor, data_samples: Optional[list]) -> dict:
        if inputs.shape[0] % self.clip_len:
            raise ValueError(f'ClipTopdownPoseEstimator: batch of {inputs.shape[0]} frames is not '
                             f'made of clips of {self.clip_len}; use VideoClipDataset with '
                             f'clip_len={self.clip_len} and clip_pseudo_collate')
        with training_clip(self.clip_len):
            losses = super().loss(inputs, data_samples)
        share = skipconv_gate_loss(self, 1.0)
        losses['loss_gate'] = self.gate_loss_weight * share
        losses['mac_share'] = share.detach()
        return losses
