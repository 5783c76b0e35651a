# MoViNet-A0 base (non-causal 3D convs, clip-level SE) on mmaction2's stock Kinetics-400 video
# recipe (dataset, dataloaders, AccMetric, SGD + cosine schedule of the R(2+1)D-34 config), with
# MoViNet's 50 frames x stride 5 at 172x172. Trained from scratch: no weights can be downloaded.
_base_ = 'mmaction::recognition/r2plus1d/r2plus1d_r34_8xb8-8x8x1-180e_kinetics400-rgb.py'
custom_imports = dict(imports=['mmeff'], allow_failed_imports=False)

arch, causal, project = 'a0', False, 480
clip_len, frame_interval, scale = 50, 5, 172

model = dict(
    _delete_=True, type='MoViNetRecognizer', backbone=dict(type='MoViNet', arch=arch, causal=causal,
                                                           drop_path_rate=0.2),
    cls_head=dict(type='MoViNetHead', num_classes=400, in_channels=project, causal=causal,
                  dropout_ratio=0.2, label_smooth_eps=0.1, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'))

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
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=val_pipeline))
