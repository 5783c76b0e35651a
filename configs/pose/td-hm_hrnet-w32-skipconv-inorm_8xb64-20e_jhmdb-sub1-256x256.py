# HRNet-W32 on JHMDB with every conv a drift-free SkipConv2d (8x8-block input-norm gates),
# thresholds set per layer before each evaluation by NormGateCalibrationHook (0.1 of each layer's
# mean input-window L1 norm on the first 8 frames). Evaluate a dense checkpoint:
#   python <mmpose>/.mim/tools/test.py THIS_CONFIG DENSE.pth
_base_ = './td-hm_hrnet-w32_8xb64-20e_jhmdb-sub1-256x256.py'

model = dict(_delete_=True, type='SkipConvModel', model={{_base_.model}},
             gate=dict(type='InputNormGate', threshold=0.0, block_size=8))
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='NormGateCalibrationHook', relative=0.1, num_frames=8),
]
