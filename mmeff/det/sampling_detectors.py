"""Detectors that add a :class:`SparseResNet` backbone's density losses to their loss dict."""
from typing import Dict

from mmdet.models.detectors import FasterRCNN, RetinaNet
from mmdet.registry import MODELS
from torch import Tensor


class SamplingLossMixin:
    """``loss()`` of the detector, plus ``backbone.sampling_losses()`` (``loss_sparse``,
    ``loss_budget``, ``mac_share``) of the same forward. The backbone keeps its blocks'
    probabilities from the training forward that the detector's own loss ran; nothing global
    is involved."""

    def loss(self, batch_inputs: Tensor, batch_data_samples) -> Dict[str, Tensor]:
        losses = super().loss(batch_inputs, batch_data_samples)
        losses.update(self.backbone.sampling_losses())
        return losses


@MODELS.register_module()
class SamplingFasterRCNN(SamplingLossMixin, FasterRCNN):
    """``FasterRCNN`` whose loss dict carries the sampling losses of a ``SparseResNet``."""


@MODELS.register_module()
class SamplingRetinaNet(SamplingLossMixin, RetinaNet):
    """``RetinaNet`` whose loss dict carries the sampling losses of a ``SparseResNet``."""
