# A reduced-width HRNet (stem as stock, branches 16/32/64/128, one block per branch) trained on
# the synthetic walking-figure videos of tools/generate_synthetic_pose_videos.py (JHMDB format,
# 15 joints), evaluated per video with mmeff's VideoValLoop (../_base_/pose/td-hm_jhmdb-video.py:
# stable crops per track, one stream per track, JhmdbPCKAccuracy plus the conv GMACs per frame).
# Trains in about 2-3 minutes on 2 cores (10 epochs of 23 iterations on the default 24 training
# videos; PCK 0.98 on the test videos). Flip test stays off (as in the base): the figures' left
# limbs are drawn darker, so flipping would mislabel them.
#
#   python tools/generate_synthetic_pose_videos.py data/synthetic_jhmdb
#   python <mmpose>/.mim/tools/train.py configs/pose/td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py
_base_ = '../_base_/pose/td-hm_jhmdb-video.py'
load_from = None

data_root = 'data/synthetic_jhmdb/'
codec = dict(type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16), sigma=1)

model = dict(
    backbone=dict(
        _delete_=True, type='HRNet', in_channels=3, extra=dict(
            stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1, ),
                        num_channels=(16, )),
            stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1),
                        num_channels=(16, 32)), stage3=dict(num_modules=1, num_branches=3,
                                                            block='BASIC', num_blocks=(1, 1, 1),
                                                            num_channels=(16, 32, 64)),
            stage4=dict(num_modules=1, num_branches=4, block='BASIC', num_blocks=(1, 1, 1, 1),
                        num_channels=(16, 32, 64, 128)))),
    head=dict(in_channels=16, out_channels=15, deconv_out_channels=None, decoder=codec))

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

train_dataloader = dict(batch_size=32, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(dataset=dict(data_root=data_root, pipeline=val_pipeline)))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=10, val_interval=5)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=50, start_factor=0.01, by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=10, milestones=[7, 9], gamma=0.1, by_epoch=True)
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=5, max_keep_ckpts=1))
randomness = dict(seed=0)
