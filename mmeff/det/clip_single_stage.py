"""``ClipSingleStageDetector``: a single-stage detector trained on clips of consecutive frames
with the gate MAC loss of Skip-Convolutions."""
from mmdet.models.detectors import SingleStageDetector
from mmdet.registry import MODELS

from ..engine import ClipTrainingMixin


@MODELS.register_module()
class ClipSingleStageDetector(ClipTrainingMixin, SingleStageDetector):
    """``SingleStageDetector`` whose training batches are clips (B clips x ``clip_len`` images,
    frame-major per clip, as ``VideoClipSampler`` with ``batch_size = B * clip_len`` delivers
    them).

    The loss runs inside ``mmeff.training_clip(clip_len)`` and adds ``loss_gate``; ``mac_share``
    is logged (:class:`~mmeff.engine.ClipTrainingMixin`). Wrap it in ``SkipConvModel`` to
    convert its convs. Inference is the stock detector's.

    Args:
        clip_len: frames per training clip (>= 2).
        gate_loss_weight: beta of the gate MAC loss.
        **kwargs: as ``SingleStageDetector``.
    """
    clip_batches_hint = ('use VideoClipSampler with the same clip_len and a batch_size that is a '
                         'multiple of it')
