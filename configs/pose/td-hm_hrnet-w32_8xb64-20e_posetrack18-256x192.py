# mmpose's stock HRNet-W32 PoseTrack18 recipe (COCO-format video annotations, 256x192, detected
# boxes), evaluated per track with mmeff's VideoValLoop / VideoTestLoop: people are linked into
# tracks by box IoU, each track's frames run in order with a stable crop and its own stream.
# Reports PoseTrack18Metric (needs poseval, as in mmpose) and FrameMacsMetric. Flip test is off.
_base_ = 'mmpose::body_2d_keypoint/topdown_heatmap/posetrack18/td-hm_hrnet-w32_8xb64-20e_posetrack18-256x192.py'
custom_imports = dict(imports=['mmeff'], allow_failed_imports=False)

model = dict(test_cfg=dict(flip_test=False))
val_dataloader = dict(
    batch_size=16,
    sampler=dict(_delete_=True, type='VideoSampler'),  # whole tracks per process, in order
    dataset=dict(_delete_=True, type='VideoPoseDataset', dataset={{_base_.val_dataloader.dataset}}))
test_dataloader = val_dataloader
val_evaluator = [{{_base_.val_evaluator}}, dict(type='FrameMacsMetric')]
test_evaluator = val_evaluator
val_cfg = dict(type='VideoValLoop')
test_cfg = dict(type='VideoTestLoop')
