# A tiny MoViNet stream model (same blocks as A0: stream buffers, causal SE, cumulative pooling;
# two stages, temporal kernels at 1/2 and 1/4 resolution) on the synthetic motion dataset of
# tools/generate_synthetic_actions.py (4 classes: the direction squares move; no single frame
# tells it). Sized for a CPU test run (about a minute):
#   python tools/generate_synthetic_actions.py data/synthetic_actions \
#       --train 40 --val 8 --frames 8 --size 32 32
#   python <mmaction>/.mim/tools/train.py configs/movinet/<this file>
# (A0 itself at 32x32 runs all its temporal convs at 4x4 or coarser and does not learn the
# task reliably within a few hundred iterations.)
_base_ = './movinet-a0-stream_8xb16-50x5x1-180e_kinetics400-rgb.py'

data_root = 'data/synthetic_actions'
clip_len, scale = 8, 32

model = dict(
    # BN momentum 0.1 (PyTorch's default) instead of MoViNet's 0.01: a short schedule must
    # bring the running statistics close to the data's within a few dozen iterations.
    # ReZero scales start at 1 (not 0) so that the temporal convs take part from the start.
    backbone=dict(
        arch=dict(
            _delete_=True, stem=8, stages=[(16, [(32, (3, 3, 3), 1), (32, (3, 3, 3), 2)]),
                                           (32, [(64, (5, 3, 3), 1), (64, (3, 3, 3), 2)])],
            project=64), drop_path_rate=0.0, rezero_init=1.0,
        norm_cfg=dict(type='BN3d', momentum=0.1, eps=1e-3)),
    cls_head=dict(num_classes=4, in_channels=64, hidden_channels=128, dropout_ratio=0.0,
                  label_smooth_eps=0.0, topk=(1, )))

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(scale, scale), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(scale, scale), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(ann_file=f'{data_root}/train_list.txt',
                 data_prefix=dict(video=f'{data_root}/videos'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(ann_file=f'{data_root}/val_list.txt',
                 data_prefix=dict(video=f'{data_root}/videos'), pipeline=val_pipeline))
test_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(ann_file=f'{data_root}/val_list.txt',
                 data_prefix=dict(video=f'{data_root}/videos'), pipeline=val_pipeline))

train_cfg = dict(max_epochs=6, val_interval=6)
optim_wrapper = dict(_delete_=True, optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
                     clip_grad=dict(max_norm=40, norm_type=2))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=6, eta_min=0, by_epoch=True, convert_to_iter_based=True)
]
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=6))
