# RetinaNet R-50-FPN (mmdet's 1x COCO recipe) with SparseResNet at its defaults, as
# faster-rcnn_sparse-r50_fpn_1x_coco.py; SamplingRetinaNet adds the sparse loss.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmeff'], allow_failed_imports=False)
model = dict(type='SamplingRetinaNet', backbone=dict(type='SparseResNet'))
custom_hooks = [dict(type='SamplingTemperatureHook')]
