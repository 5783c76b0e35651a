# Dense baseline of the sampling-interpolation sweep: RetinaNet with a narrow ResNet-50 (base
# width 16, no pretrained weights) and a 64-channel FPN and a 2-conv 64-channel head, on
# mmeff's synthetic video detection dataset (128x128 frames, 3 classes), written by:
#     python tools/generate_synthetic_detection.py --out data/synthetic_det
# 96 iterations, a few minutes on one CPU core. The frames are resized to `input_size`; the
# *-96x96 and *-64x64 configs shrink it for the equal-backbone-MACs comparison with the
# SparseResNet model (docs/sampling_interp.md, "Accuracy vs MACs"). Validation reports COCO
# mAP and, through mmeff's VideoValLoop and FrameMacsMetric, the conv GMACs per frame of the
# whole detector and of its backbone.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmeff'], allow_failed_imports=False)

input_size = 128
dataset_type = 'CocoVideoFrameDataset'
data_root = 'data/synthetic_det/'
metainfo = dict(classes=('square', 'disc', 'triangle'))
norm_cfg = dict(type='BN', requires_grad=True, momentum=0.1)
model = dict(
    backbone=dict(base_channels=16, norm_cfg=norm_cfg, norm_eval=False, frozen_stages=-1,
                  init_cfg=None), neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    bbox_head=dict(num_classes=3, in_channels=64, feat_channels=64,
                   stacked_convs=2), test_cfg=dict(score_thr=0.001))

test_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'video_id',
                  'frame_id', 'stream_key')
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=test_meta_keys)
]
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/train.json', data_prefix=dict(img=''),
                 filter_cfg=dict(filter_empty_gt=True, min_size=4), pipeline=train_pipeline))
# VideoSampler: whole videos per process, each in frame order
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(_delete_=True, type='VideoSampler'),
    dataset=dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/val.json', data_prefix=dict(img=''), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='CocoMetric', ann_file=data_root + 'annotations/val.json', metric='bbox'),
    dict(type='FrameMacsMetric')
]
test_evaluator = val_evaluator
val_cfg = dict(type='VideoValLoop')
test_cfg = dict(type='VideoTestLoop')

max_epochs = 6
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', eta_min=0.0, begin=0, T_max=max_epochs, end=max_epochs,
         by_epoch=True, convert_to_iter_based=True)
]
optim_wrapper = dict(optimizer=dict(lr=0.02), clip_grad=dict(max_norm=35, norm_type=2))
# BN statistics averaged over the ranks after every epoch (mmdet's runtime does not)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs),
                     sync_buffers=dict(type='SyncBuffersHook'))
log_processor = dict(window_size=10)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
auto_scale_lr = dict(base_batch_size=8)
