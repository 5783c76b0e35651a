# The dense baseline's RetinaNet (retinanet_r50-w16_fpn-c64_1xb8-6e_synthvid-128x128.py) with
# SparseResNet: every stage samples ('inner' integration, RBF interpolation, grid prior 11),
# the paper's sparse loss with weight gamma (`sparse_loss_weight`, swept over in
# docs/sampling_interp.md) and SamplingTemperatureHook's 1 -> 0.03 over the run. The mask
# heads learn 10x faster than the rest (SGD): the run has 96 iterations, not the paper's 176k,
# and a head's bias starts at 3 (keep-probability 0.95). Validation and test are sparse and
# deterministic; FrameMacsMetric reports the executed backbone MACs (sparse charges).
_base_ = './retinanet_r50-w16_fpn-c64_1xb8-6e_synthvid-128x128.py'
model = dict(type='SamplingRetinaNet', backbone=dict(type='SparseResNet', sparse_loss_weight=0.2))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={
    'mask1_head': dict(lr_mult=10.0),
    'mask2_head': dict(lr_mult=10.0)
}))
custom_hooks = [dict(type='SamplingTemperatureHook', start=1.0, end=0.03)]
