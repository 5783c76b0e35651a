"""mmeff's mmdet parts, registered in mmdet's registries when mmdet's models load.

EfficientDet (``EfficientDetBiFPN`` neck, ``EfficientDetHead``, compound scaling D0-D3) and the
pieces for SkipConv detection on video; the sampling-interpolation backbone ``SparseResNet``
and the detectors that train it; the EfficientNet-CondConv backbone ``EfficientNetCondConv``.
"""
from .bifpn import EfficientDetBiFPN
from .clip_single_stage import ClipSingleStageDetector
from .coco_video_frame_dataset import CocoVideoFrameDataset
from .compound_scaling import EFFICIENTDET_SCALING, EfficientDetScaling, efficientdet_model
from .cond_conv_inverted_residual import CondConvInvertedResidual
from .efficientdet_head import EfficientDetHead
from .efficientnet_classifier import EfficientNetClassifier
from .efficientnet_condconv import CONDCONV_STAGE_CHANNELS, EfficientNetCondConv
from .sampling_detectors import SamplingFasterRCNN, SamplingRetinaNet
from .sparse_bottleneck import INTEGRATIONS, SparseBottleneck
from .sparse_resnet import SparseResNet

__all__ = [
    'EfficientDetBiFPN', 'EfficientDetHead', 'CocoVideoFrameDataset', 'ClipSingleStageDetector',
    'EFFICIENTDET_SCALING', 'EfficientDetScaling', 'efficientdet_model', 'SparseBottleneck',
    'SparseResNet', 'INTEGRATIONS', 'SamplingFasterRCNN', 'SamplingRetinaNet',
    'CondConvInvertedResidual', 'EfficientNetClassifier', 'EfficientNetCondConv',
    'CONDCONV_STAGE_CHANNELS'
]
