# EfficientDet-D0 (COCO recipe, 512x512) with the EfficientNet-CondConv-B0 backbone, 8 experts
# (mmeff's EfficientNetCondConv: CondConv in the last three stages, one router per block).
# Builds here; it cannot be trained without COCO and GPUs. The static layers keep the recipe's
# symmetric-padding convs; to start from converted timm ImageNet weights
# (mmeff.converters.convert_timm_efficientnet of tf_efficientnet_cc_b0_8e), set
# conv_cfg=dict(type='Conv2dAdaptivePadding') so the static layers pad as TensorFlow does.
_base_ = '../efficientdet/efficientdet_effb0_bifpn_8xb16-crop512-300e_coco.py'

model = dict(backbone=dict(type='EfficientNetCondConv', num_experts=8))
