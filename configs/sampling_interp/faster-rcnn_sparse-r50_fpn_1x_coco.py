# Faster R-CNN R-50-FPN (mmdet's 1x COCO recipe) with the sampling-interpolation backbone
# SparseResNet (docs/sampling_interp.md): every stage samples, the published 'inner'
# integration, RBF interpolation, grid prior 11, the paper's sparse loss with gamma 0.1
# (added to the loss dict by SamplingFasterRCNN), temperature 1 -> 0.03 over the run.
# The stock torchvision ResNet-50 weights load; the mask heads and interpolants start fresh.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmeff'], allow_failed_imports=False)

model = dict(
    type='SamplingFasterRCNN',
    backbone=dict(type='SparseResNet', sparse_stages=(True, True, True, True), integration='inner',
                  interpolant=dict(type='RBFInterpolant'), grid_interval=11,
                  sparse_loss_weight=0.1))
custom_hooks = [dict(type='SamplingTemperatureHook', start=1.0, end=0.03)]
