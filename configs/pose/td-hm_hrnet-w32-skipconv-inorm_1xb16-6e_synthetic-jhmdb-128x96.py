# The synthetic HRNet-W32 recipe with every conv a drift-free SkipConv2d (4x4-block input-norm
# gates), for evaluating the dense W32 checkpoint on video with mmpose's tools/test.py:
#
#   python <mmpose>/.mim/tools/test.py configs/pose/td-hm_hrnet-w32-skipconv-inorm_1xb16-6e_synthetic-jhmdb-128x96.py DENSE.pth
#
# Gate thresholds: `relative` times each layer's mean input-window L1 norm on the first 8
# evaluation frames (NormGateCalibrationHook). Reported: JhmdbPCKAccuracy and the dense /
# executed conv GMACs per frame (FrameMacsMetric).
_base_ = './td-hm_hrnet-w32_1xb16-6e_synthetic-jhmdb-128x96.py'

model = dict(_delete_=True, type='SkipConvModel', model={{_base_.model}},
             gate=dict(type='InputNormGate', threshold=0.0, block_size=4))
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='NormGateCalibrationHook', relative=0.1, num_frames=8),
]
