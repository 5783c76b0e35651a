"""``EfficientNetClassifier``: an mmdet EfficientNet(-CondConv) backbone with EfficientNet's
ImageNet head, the model that the papers' parameter and MADD counts describe."""
from mmdet.registry import MODELS
from mmengine.registry import DefaultScope
from torch import Tensor, nn


class EfficientNetClassifier(nn.Module):
    """``backbone`` (a config of mmdet's registry; its last output is the 1280-channel
    feature map, ``out_indices=(6,)``) → global average pooling → dropout → linear.

    Shape:
        (B, 3, H, W) -> (B, num_classes).
    """

    def __init__(self, backbone: dict, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        with DefaultScope.overwrite_default_scope('mmdet'):  # whatever scope is active
            self.backbone = MODELS.build(dict(backbone, out_indices=(6, )))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.backbone.out_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        features = self.backbone(x)[-1].mean(dim=(2, 3))
        return self.classifier(self.dropout(features))
