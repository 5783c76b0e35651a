# Gumbel-gate fine-tuning of SkipConv EfficientDet-D0 on clips of 4 consecutive frames: start
# from the dense weights (load_from=<dense checkpoint>), every conv a SkipConv2d with a trained
# 4x4-block GumbelGate, loss = detection losses + gate_loss_weight * expected share of MACs
# executed per residual frame (Habibian et al., CVPR 2021). Batches are 2 clips x 4 frames from
# VideoClipSampler (no random flip: the frames of a clip must stay aligned).
#   python <mmdet>/.mim/tools/train.py THIS_CONFIG --cfg-options load_from=DENSE.pth
_base_ = './efficientdet_effb0_bifpn-skipconv-inorm_1xb8-24e_synthvid-128x128.py'

clip_len = 4
model = dict(model=dict(type='ClipSingleStageDetector', clip_len=clip_len, gate_loss_weight=0.5),
             gate=dict(_delete_=True, type='GumbelGate', block_size=4))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs')
]
train_dataloader = dict(batch_size=2 * clip_len,
                        sampler=dict(_delete_=True, type='VideoClipSampler', clip_len=clip_len),
                        batch_sampler=None, dataset=dict(filter_cfg=None, pipeline=train_pipeline))

max_epochs = 6
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=0.0, begin=0, T_max=max_epochs, end=max_epochs,
         by_epoch=True, convert_to_iter_based=True)
]
optim_wrapper = dict(optimizer=dict(lr=0.005))
default_hooks = dict(checkpoint=dict(interval=max_epochs))
