# Top-down heatmap pose (SimpleBaseline head: three deconvs to stride 4) on the synthetic
# walking-figure videos with mmdet's static EfficientNet-B0 backbone (stride 32, 320 channels),
# taken from mmdet's registry through the 'mmdet.' scope prefix: the static counterpart of
# ../condconv/td-hm_effb0-cc4e_1xb32-10e_synthetic-jhmdb-64x64.py, the same recipe but for the
# backbone's type. The data, schedule and evaluation are
# td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py's.
#
#   python tools/generate_synthetic_pose_videos.py data/synthetic_jhmdb
#   python <mmpose>/.mim/tools/train.py configs/pose/td-hm_effb0_1xb32-10e_synthetic-jhmdb-64x64.py
_base_ = './td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'
custom_imports = dict(imports=['mmeff', 'mmdet.models'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='mmdet.EfficientNet', out_indices=(5, )),
    head=dict(in_channels=320, deconv_out_channels=(128, 128, 128), deconv_kernel_sizes=(4, 4, 4)))
