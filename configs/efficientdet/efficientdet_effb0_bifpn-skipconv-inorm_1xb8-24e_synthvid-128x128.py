# SkipConv EfficientDet-D0 on video: every conv of the backbone (SE blocks included), the BiFPN
# and the head becomes a drift-free SkipConv2d with a 4x4-block input-norm gate. Evaluate the
# weights of the dense config with mmdet's tools/test.py: each video runs frame by frame in
# order, a new stream per video (VideoTestLoop), reporting COCO mAP and the dense vs
# executed GMACs per frame (FrameMacsMetric). threshold=0 gives exactly the dense detections.
_base_ = './efficientdet_effb0_bifpn_1xb8-24e_synthvid-128x128.py'

data_root = 'data/synthetic_det/'

model = dict(_delete_=True, type='SkipConvModel', model={{_base_.model}},
             gate=dict(type='InputNormGate', threshold=1.0, block_size=4))

# whole videos per process, each in frame order: several processes evaluate as one
val_dataloader = dict(sampler=dict(_delete_=True, type='VideoSampler'))
test_dataloader = dict(sampler=dict(_delete_=True, type='VideoSampler'))
val_cfg = dict(type='VideoValLoop')
test_cfg = dict(type='VideoTestLoop')
val_evaluator = [
    dict(type='CocoMetric', ann_file=data_root + 'annotations/val.json', metric='bbox'),
    dict(type='FrameMacsMetric')
]
test_evaluator = val_evaluator
