# The synthetic-video HRNet-W32 of td-hm_hrnet-w32_1xb16-6e_synthetic-jhmdb-128x96.py at the
# stock HRNet-W32 input size, 256x192 crops (64x48 heatmaps, sigma 2 as mmpose's COCO recipe):
# the model tools/benchmark_skipconv_video.py measures SkipConv on. About 25 minutes on 2 cores.
#
#   python tools/generate_synthetic_pose_videos.py data/synthetic_jhmdb --height 240 --width 320
#   python <mmpose>/.mim/tools/train.py configs/pose/td-hm_hrnet-w32_1xb16-6e_synthetic-jhmdb-256x192.py
_base_ = './td-hm_hrnet-w32_1xb16-6e_synthetic-jhmdb-128x96.py'

codec = dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)

model = dict(head=dict(decoder=codec))

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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(dataset=dict(pipeline=val_pipeline)))
test_dataloader = val_dataloader
