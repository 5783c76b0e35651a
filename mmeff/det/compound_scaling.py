"""EfficientDet's compound scaling (Tan et al., CVPR 2020, arXiv 1911.09070, Table 1), in one place.

    W_bifpn = 64 * 1.35^phi,  D_bifpn = 3 + phi,  D_box = D_class = 3 + floor(phi / 3),
    R_input = 512 + 128 * phi,  backbone EfficientNet-B<phi>

(the paper rounds W to hardware-friendly channel counts). ``backbone_channels`` are the output
channels of mmdet's ``EfficientNet`` stages 3, 4, 5 (strides 8, 16, 32) for that backbone.
"""
from dataclasses import dataclass
from typing import Dict, Tuple


@dataclass(frozen=True)
class EfficientDetScaling:
    """Size of one EfficientDet model and the paper's published cost."""
    backbone: str
    backbone_channels: Tuple[int, int, int]
    width: int
    bifpn_repeats: int
    head_depth: int
    image_size: int
    paper_params_m: float
    paper_gflops: float


EFFICIENTDET_SCALING: Dict[str, EfficientDetScaling] = {
    'd0': EfficientDetScaling('b0', (40, 112, 320), 64, 3, 3, 512, 3.9, 2.5),
    'd1': EfficientDetScaling('b1', (40, 112, 320), 88, 4, 3, 640, 6.6, 6.1),
    'd2': EfficientDetScaling('b2', (48, 120, 352), 112, 5, 3, 768, 8.1, 11.0),
    'd3': EfficientDetScaling('b3', (48, 136, 384), 160, 6, 4, 896, 12.0, 25.0),
}

#: The recipe's BatchNorm: TF momentum 0.99 (PyTorch 0.01), eps 1e-3.
EFFICIENTDET_NORM = dict(type='BN', momentum=0.01, eps=1e-3)


def efficientdet_model(arch: str, num_classes: int = 80) -> dict:
    """The mmdet model config of EfficientDet-``arch`` ('d0' ... 'd3'), no pretrained weights."""
    if arch not in EFFICIENTDET_SCALING:
        raise KeyError(f'efficientdet_model: arch must be one of {sorted(EFFICIENTDET_SCALING)}, '
                       f'got {arch!r}')
    s = EFFICIENTDET_SCALING[arch]
    return dict(
        type='SingleStageDetector',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=128),
        backbone=dict(type='EfficientNet', arch=s.backbone, out_indices=(3, 4, 5),
                      drop_path_rate=0.2, conv_cfg=dict(type='Conv2d'), norm_cfg=EFFICIENTDET_NORM,
                      init_cfg=None),
        neck=dict(type='EfficientDetBiFPN', in_channels=list(s.backbone_channels),
                  out_channels=s.width, num_repeats=s.bifpn_repeats, norm_cfg=EFFICIENTDET_NORM),
        bbox_head=dict(type='EfficientDetHead', num_classes=num_classes, in_channels=s.width,
                       feat_channels=s.width, stacked_convs=s.head_depth,
                       norm_cfg=EFFICIENTDET_NORM), train_cfg=EFFICIENTDET_TRAIN_CFG,
        test_cfg=EFFICIENTDET_TEST_CFG)


#: Anchor matching of the recipe: IoU >= 0.5 positive, < 0.5 negative.
EFFICIENTDET_TRAIN_CFG = dict(
    assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0,
                  ignore_iof_thr=-1), sampler=dict(type='PseudoSampler'), allowed_border=-1,
    pos_weight=-1, debug=False)

EFFICIENTDET_TEST_CFG = dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                             nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)
