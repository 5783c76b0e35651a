# mmpose's stock HRNet-W32 COCO recipe with mmeff's VideoValLoop / VideoTestLoop and the conv GMACs
# per frame next to the COCO keypoint AP. COCO has still images, not videos: the dataset is not
# wrapped, every sample is its own stream (a key frame), so a SkipConv model runs dense here and
# reports a MAC ratio of 1 (configs/skipconv/td-hm_hrnet-w32-skipconv-inorm_8xb64-210e_coco-256x192.py
# is the SkipConv variant). Video data in COCO format is PoseTrack18 (configs/pose/*posetrack18*).
_base_ = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'
custom_imports = dict(imports=['mmeff'], allow_failed_imports=False)

val_evaluator = [{{_base_.val_evaluator}}, dict(type='FrameMacsMetric')]
test_evaluator = val_evaluator
val_cfg = dict(type='VideoValLoop')
test_cfg = dict(type='VideoTestLoop')
