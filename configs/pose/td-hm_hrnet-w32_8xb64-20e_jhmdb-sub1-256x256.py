# HRNet-W32 top-down on JHMDB (split 1), 256x256, evaluated per video with mmeff's VideoValLoop /
# VideoTestLoop (../_base_/pose/td-hm_jhmdb-video.py: each video's frames in order with stable
# crops, JhmdbPCKAccuracy next to the conv GMACs per frame). The data and schedule are mmpose's
# stock JHMDB recipe (ResNet-50 there); the backbone and head are the stock COCO HRNet-W32's,
# initialised from its COCO checkpoint like mmpose's PoseTrack18 HRNet recipe.
_base_ = '../_base_/pose/td-hm_jhmdb-video.py'
load_from = 'https://download.openmmlab.com/mmpose/v1/body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192-81c58e40_20220909.pth'  # noqa: E501

model = dict(
    backbone=dict(
        _delete_=True, type='HRNet', in_channels=3, extra=dict(
            stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(4, ),
                        num_channels=(64, )),
            stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(4, 4),
                        num_channels=(32, 64)), stage3=dict(num_modules=4, num_branches=3,
                                                            block='BASIC', num_blocks=(4, 4, 4),
                                                            num_channels=(32, 64, 128)),
            stage4=dict(num_modules=3, num_branches=4, block='BASIC', num_blocks=(4, 4, 4, 4),
                        num_channels=(32, 64, 128, 256)))), head=dict(in_channels=32,
                                                                      deconv_out_channels=None))
