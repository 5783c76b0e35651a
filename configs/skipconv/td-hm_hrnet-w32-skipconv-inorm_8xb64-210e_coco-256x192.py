# The stock mmpose HRNet-W32 top-down recipe (COCO, 256x192), every conv a drift-free
# SkipConv2d with an 8x8 input-norm gate. threshold=0.0 is exact; raise it to skip more.
_base_ = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'
custom_imports = dict(imports=['mmeff'], allow_failed_imports=False)

model = dict(_delete_=True, type='SkipConvModel', model={{_base_.model}},
             gate=dict(type='InputNormGate', threshold=0.0, block_size=8))
