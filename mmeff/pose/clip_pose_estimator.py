"""``ClipTopdownPoseEstimator``: mmpose's top-down estimator trained on clips with the gate
MAC loss of Skip-Convolutions."""
from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.registry import MODELS

from ..engine import ClipTrainingMixin


@MODELS.register_module()
class ClipTopdownPoseEstimator(ClipTrainingMixin, TopdownPoseEstimator):
    """``TopdownPoseEstimator`` whose training batches are clips (B clips x ``clip_len`` frames,
    frame-major per clip, as ``VideoClipDataset`` + ``clip_pseudo_collate`` deliver them).

    The loss runs inside ``mmeff.training_clip(clip_len)`` and adds ``loss_gate``; ``mac_share``
    is logged (:class:`~mmeff.engine.ClipTrainingMixin`). Wrap it in ``SkipConvModel`` to
    convert its convs. Inference is the stock estimator's.

    Args:
        clip_len: frames per training clip (>= 2).
        gate_loss_weight: beta of the gate loss.
        **kwargs: as ``TopdownPoseEstimator``.
    """
    clip_batches_hint = 'use VideoClipDataset with the same clip_len and clip_pseudo_collate'
