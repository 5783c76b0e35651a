# MoViNet-A2 base: the A0 base recipe with the A2 architecture (projection 640) at 224x224.
_base_ = './movinet-a0-base_8xb16-50x5x1-180e_kinetics400-rgb.py'

clip_len, frame_interval, scale = 50, 5, 224
model = dict(backbone=dict(arch='a2'), cls_head=dict(in_channels=640))

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, scale)),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(scale, scale), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=1,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, scale)),
    dict(type='CenterCrop', crop_size=scale),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=val_pipeline))
