# mmpose's stock top-down JHMDB recipe (split 1, ResNet-50, 256x256) evaluated per video with
# mmeff's VideoValLoop / VideoTestLoop: the evaluation set wrapped in VideoPoseDataset (each
# track's frames in order, stable crops), dealt by whole tracks (VideoSampler), JhmdbPCKAccuracy
# next to the conv GMACs per frame (FrameMacsMetric). Flip test is off in all video configs: a
# flipped pass would be a second stream per track and doubles the cost.
_base_ = 'mmpose::body_2d_keypoint/topdown_heatmap/jhmdb/td-hm_res50_8xb64-20e_jhmdb-sub1-256x256.py'
custom_imports = dict(imports=['mmeff'], allow_failed_imports=False)

model = dict(test_cfg=dict(flip_test=False))

val_dataloader = dict(
    batch_size=16,
    sampler=dict(_delete_=True, type='VideoSampler'),  # whole tracks per process, in order
    dataset=dict(_delete_=True, type='VideoPoseDataset', dataset={{_base_.val_dataloader.dataset}}))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='JhmdbPCKAccuracy', thr=0.2, norm_item=['bbox', 'torso']),
    dict(type='FrameMacsMetric'),
]
test_evaluator = val_evaluator
val_cfg = dict(type='VideoValLoop')
test_cfg = dict(type='VideoTestLoop')
