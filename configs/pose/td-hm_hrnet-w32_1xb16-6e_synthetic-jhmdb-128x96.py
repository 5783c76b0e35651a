# The stock HRNet-W32 (mmpose's architecture, full width) trained from scratch on the synthetic
# walking-figure videos, at 128x96 crops so that it trains on 2 CPU cores. The network is fully
# convolutional: tools/benchmark_skipconv_video.py runs these weights on whole 256x192 frames
# (HRNet-W32 size), where a figure is about as tall as in these crops. Evaluated like the tiny
# model (VideoValLoop, stable crops per track, JhmdbPCKAccuracy, GMACs per frame).
#
#   python tools/generate_synthetic_pose_videos.py data/synthetic_jhmdb
#   python <mmpose>/.mim/tools/train.py configs/pose/td-hm_hrnet-w32_1xb16-6e_synthetic-jhmdb-128x96.py
_base_ = './td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'

codec = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=1.5)

model = dict(
    backbone=dict(
        _delete_=True, type='HRNet', in_channels=3, extra=dict(
            stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(4, ),
                        num_channels=(64, )),
            stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(4, 4),
                        num_channels=(32, 64)), stage3=dict(num_modules=4, num_branches=3,
                                                            block='BASIC', num_blocks=(4, 4, 4),
                                                            num_channels=(32, 64, 128)),
            stage4=dict(num_modules=3, num_branches=4, block='BASIC', num_blocks=(4, 4, 4, 4),
                        num_channels=(32, 64, 128, 256)))), head=dict(in_channels=32,
                                                                      decoder=codec))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomBBoxTransform', rotate_factor=30, scale_factor=(0.75, 1.25)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(dataset=dict(pipeline=val_pipeline)))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=6, val_interval=6)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=50, start_factor=0.01, by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=6, milestones=[4, 5], gamma=0.1, by_epoch=True)
]
default_hooks = dict(checkpoint=dict(interval=6))
