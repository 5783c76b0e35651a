# EfficientDet-D0 (COCO recipe, 512x512) with the EfficientNet-CondConv-B0 backbone, 4 experts;
# see efficientdet_effb0-cc8e_bifpn_8xb16-crop512-300e_coco.py.
_base_ = './efficientdet_effb0-cc8e_bifpn_8xb16-crop512-300e_coco.py'

model = dict(backbone=dict(num_experts=4))
