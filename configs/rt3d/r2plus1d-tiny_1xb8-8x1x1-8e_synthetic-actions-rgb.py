# Stage 1 (dense) of the RT3D chain on the synthetic motion dataset: mmaction2's R(2+1)D model
# (ResNet2Plus1d with Conv2plus1d everywhere) shrunk to train in about a minute on one CPU core:
# ResNet-18 layout, three stages of 16/32/64 channels, 8x32x32 clips, 4 classes. Stage 2 is one of
# r2plus1d-tiny-{kgs,vanilla,filter}-{2x,3x}_*.py, which load this stage's last checkpoint.
#   python tools/generate_synthetic_actions.py data/synthetic_actions \
#       --train 40 --val 16 --frames 8 --size 32 32
#   python <mmaction>/.mim/tools/train.py configs/rt3d/<this file>
# The data (videos, 8-frame clips at 32x32, loaders) and the optimizer (AdamW) are those of the
# tiny MoViNet config.
_base_ = '../movinet/movinet-tiny-stream_1xb8-8x1x1-6e_synthetic-actions-rgb.py'

epochs = 8
model = dict(
    _delete_=True, type='Recognizer3D',
    backbone=dict(type='ResNet2Plus1d', depth=18, base_channels=16, num_stages=3, out_indices=(2, ),
                  spatial_strides=(1, 2, 2), temporal_strides=(1, 2, 2), dilations=(1, 1, 1),
                  pretrained=None, pretrained2d=False, conv_cfg=dict(type='Conv2plus1d'),
                  norm_cfg=dict(type='BN3d',
                                eps=1e-3), conv1_kernel=(3, 7, 7), zero_init_residual=False),
    cls_head=dict(type='I3DHead', num_classes=4, in_channels=64, dropout_ratio=0.0,
                  average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'))
# whole clips, not MoViNet's streaming test loop
test_cfg = dict(_delete_=True, type='TestLoop')
test_evaluator = dict(_delete_=True, type='AccMetric')

train_cfg = dict(max_epochs=epochs, val_interval=epochs)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=epochs, eta_min=0, by_epoch=True,
         convert_to_iter_based=True)
]
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=epochs, max_keep_ckpts=1))
