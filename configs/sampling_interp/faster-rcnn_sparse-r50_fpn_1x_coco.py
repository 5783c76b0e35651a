# Faster R-CNN R-50-FPN (mmdet's 1x COCO recipe) with the sampling-interpolation backbone
# SparseResNet at its defaults (docs/sampling_interp.md): every stage samples, the published
# 'inner' integration, RBF interpolation, grid prior 11, the paper's sparse loss with
# gamma 0.1 (added to the loss dict by SamplingFasterRCNN), and SamplingTemperatureHook's
# 1 -> 0.03. The stock torchvision ResNet-50 weights load; mask heads and interpolants start
# fresh.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmeff'], allow_failed_imports=False)
model = dict(type='SamplingFasterRCNN', backbone=dict(type='SparseResNet'))
custom_hooks = [dict(type='SamplingTemperatureHook')]
