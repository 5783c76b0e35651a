# EfficientDet-D0 (Tan et al., CVPR 2020) on COCO, the paper's recipe: mmdet's EfficientNet-B0
# backbone, mmeff's BiFPN (W 64, 3 repeats) and head (3 separable convs, per-level BN), focal
# loss (gamma 1.5) + Huber box loss, 512x512 scale-jitter crops, SGD 0.16 with cosine decay, EMA.
# The same numbers come from mmeff.det.efficientdet_model('d0') (compound scaling, D0-D3).
# No pretrained weights here (no network): the backbone starts from random initialisation.
_base_ = [
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmeff'], allow_failed_imports=False)

image_size = 512
norm_cfg = dict(type='BN', momentum=0.01, eps=1e-3)  # TF's decay 0.99
model = dict(
    type='SingleStageDetector',
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28,
                                                             103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True, pad_size_divisor=128),  # P7 has stride 128
    backbone=dict(
        type='EfficientNet',
        arch='b0',
        out_indices=(3, 4, 5),
        drop_path_rate=0.2,
        conv_cfg=dict(type='Conv2d'),  # symmetric padding: every conv converts to SkipConv2d
        norm_cfg=norm_cfg,
        init_cfg=None),
    neck=dict(type='EfficientDetBiFPN', in_channels=[40, 112, 320], out_channels=64, num_repeats=3,
              norm_cfg=norm_cfg),
    bbox_head=dict(type='EfficientDetHead', num_classes=80, in_channels=64, feat_channels=64,
                   stacked_convs=3, norm_cfg=norm_cfg),
    train_cfg=dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0,
                      ignore_iof_thr=-1), sampler=dict(type='PseudoSampler'), allowed_border=-1,
        pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=(image_size, image_size), ratio_range=(0.1, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=(image_size, image_size)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(batch_size=16, num_workers=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 300
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', eta_min=0.0, begin=1, T_max=max_epochs - 1, end=max_epochs,
         by_epoch=True, convert_to_iter_based=True)
]
optim_wrapper = dict(optimizer=dict(lr=0.16, momentum=0.9, weight_decay=4e-5),
                     paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0),
                     clip_grad=dict(max_norm=10, norm_type=2))
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002, update_buffers=True,
         priority=49)
]
# plain BN: the ranks' running statistics are averaged after every epoch (mmdet's default
# runtime, unlike mmaction2's, has no SyncBuffersHook), so that every rank holds the same model
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3),
                     sync_buffers=dict(type='SyncBuffersHook'))
auto_scale_lr = dict(base_batch_size=128)
