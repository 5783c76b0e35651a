# EfficientDet-D0 on mmeff's synthetic video detection dataset with the EfficientNet-CondConv-B0
# backbone, 4 experts (mmeff's EfficientNetCondConv: CondConv in the last three stages, one
# router per block). Everything else is the static recipe's, schedule included, so the two
# compare at equal conv MACs (the mix adds E·|W| per image, docs/condconv.md).
#
#   python tools/generate_synthetic_detection.py --out data/synthetic_det
#   python <mmdet>/.mim/tools/train.py configs/condconv/efficientdet_effb0-cc4e_bifpn_1xb8-24e_synthvid-128x128.py
_base_ = '../efficientdet/efficientdet_effb0_bifpn_1xb8-24e_synthvid-128x128.py'

model = dict(backbone=dict(type='EfficientNetCondConv', num_experts=4))
