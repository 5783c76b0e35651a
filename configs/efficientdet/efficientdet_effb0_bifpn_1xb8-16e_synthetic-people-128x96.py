# EfficientDet-D0 as a person detector on mmeff's synthetic walking-figure videos (128x96 frames,
# one class): the detector of tools/video_demo.py. The data is written by
# mmeff.utils.write_synthetic_people (cached training: python -m mmeff.benchmark.checkpoints
# people CONFIG). Frames of any size are resized to fit 128x128 at test time, as for the
# 320x240 demo clip.
_base_ = './efficientdet_effb0_bifpn_1xb8-24e_synthvid-128x128.py'

data_root = 'data/synthetic_people/'
metainfo = dict(classes=('person', ))
model = dict(bbox_head=dict(num_classes=1))
train_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo, filter_cfg=dict(
    min_size=2)))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val.json')
test_evaluator = val_evaluator

max_epochs = 16
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', eta_min=0.0, begin=0, T_max=max_epochs, end=max_epochs,
         by_epoch=True, convert_to_iter_based=True)
]
default_hooks = dict(checkpoint=dict(interval=max_epochs))
randomness = dict(seed=0)
