# The synthetic tiny-HRNet recipe with every conv a drift-free SkipConv2d (4x4-block input-norm
# gates), for evaluating a dense checkpoint on video with mmpose's tools/test.py:
#
#   python <mmpose>/.mim/tools/test.py configs/pose/td-hm_hrnet-tiny-skipconv-inorm_1xb32-10e_synthetic-jhmdb-64x64.py DENSE.pth
#
# Before each evaluation NormGateCalibrationHook sets every gate's threshold to `relative` times
# its layer's mean input-window L1 norm, measured on the first 8 evaluation frames (images only).
# Reported: JhmdbPCKAccuracy and the dense / executed conv GMACs per frame (FrameMacsMetric).
_base_ = './td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'

model = dict(_delete_=True, type='SkipConvModel', model={{_base_.model}},
             gate=dict(type='InputNormGate', threshold=0.0, block_size=4))
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='NormGateCalibrationHook', relative=0.1, num_frames=8),
]
