# The COCO HRNet-W32 recipe with every conv a SkipConv2d (8x8-block input-norm gates, threshold 0:
# exact). On still images every sample is a key frame, so this checks on the stock benchmark that
# the converted model reproduces the dense AP; see the PoseTrack18 / JHMDB configs for video.
_base_ = './td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'

model = dict(
    _delete_=True,
    type='SkipConvModel',
    model={{_base_.model}},
    gate=dict(type='InputNormGate', threshold=0.0, block_size=8))
