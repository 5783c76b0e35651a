# EfficientDet-D0 on mmeff's synthetic video detection dataset (128x128 frames, 3 classes),
# written by:  python tools/generate_synthetic_detection.py --out data/synthetic_det
# The D0 model of the COCO recipe; a short schedule for a tiny dataset: no EMA, BatchNorm
# momentum 0.1 so the running statistics settle within a few hundred iterations; detections
# down to score 0.001 are evaluated (COCO mAP ranks them; 0.05 hides early training progress).
_base_ = './efficientdet_effb0_bifpn_8xb16-crop512-300e_coco.py'

dataset_type = 'CocoVideoFrameDataset'
data_root = 'data/synthetic_det/'
metainfo = dict(classes=('square', 'disc', 'triangle'))
norm_cfg = dict(type='BN', momentum=0.1, eps=1e-3)
model = dict(backbone=dict(norm_cfg=norm_cfg), neck=dict(norm_cfg=norm_cfg),
             bbox_head=dict(num_classes=3, norm_cfg=norm_cfg), test_cfg=dict(score_thr=0.001))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                         'scale_factor', 'video_id', 'frame_id', 'stream_key'))
]
train_dataloader = dict(
    batch_size=8, num_workers=2,
    dataset=dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/train.json', data_prefix=dict(img=''),
                 filter_cfg=dict(filter_empty_gt=True, min_size=4), pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                                   ann_file='annotations/val.json', data_prefix=dict(
                                       img=''), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val.json')
test_evaluator = val_evaluator

max_epochs = 24
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', eta_min=0.0, begin=0, T_max=max_epochs, end=max_epochs,
         by_epoch=True, convert_to_iter_based=True)
]
optim_wrapper = dict(optimizer=dict(lr=0.04))
custom_hooks = []
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs))
log_processor = dict(window_size=10)
auto_scale_lr = dict(base_batch_size=8)
