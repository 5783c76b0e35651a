# EfficientDet-D0 on mmeff's synthetic video detection dataset with the EfficientNet-CondConv-B0
# backbone, 8 experts; see efficientdet_effb0-cc4e_bifpn_1xb8-24e_synthvid-128x128.py.
_base_ = './efficientdet_effb0-cc4e_bifpn_1xb8-24e_synthvid-128x128.py'

model = dict(backbone=dict(num_experts=8))
