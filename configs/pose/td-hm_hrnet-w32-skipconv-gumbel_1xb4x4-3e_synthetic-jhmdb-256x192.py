# Gumbel-gate fine-tuning of the synthetic 256x192 HRNet-W32
# (td-hm_hrnet-w32_1xb16-6e_synthetic-jhmdb-256x192.py) with mmpose's tools/train.py: every conv
# becomes a SkipConv2d with a trainable 4x4-block GumbelGate, batches are 4 clips of 4
# consecutive frames (one crop and one augmentation per clip), the loss adds the gate MAC loss,
# GumbelTemperatureHook anneals the temperature. Start from the dense checkpoint; measure the
# trained gates with tools/benchmark_skipconv_video.py --gate GumbelGate --block 4:
#
#   python <mmpose>/.mim/tools/train.py configs/pose/td-hm_hrnet-w32-skipconv-gumbel_1xb4x4-3e_synthetic-jhmdb-256x192.py \
#       --cfg-options load_from=DENSE.pth
_base_ = './td-hm_hrnet-w32_1xb16-6e_synthetic-jhmdb-256x192.py'
clip_len = 4

model = dict(
    _delete_=True, type='SkipConvModel',
    model=dict(type='ClipTopdownPoseEstimator', clip_len=clip_len, gate_loss_weight=0.005,
               data_preprocessor={{_base_.model.data_preprocessor}},
               backbone={{_base_.model.backbone}}, head={{_base_.model.head}},
               test_cfg={{_base_.model.test_cfg}}), gate=dict(type='GumbelGate', block_size=4,
                                                              init_bias=1.0))

train_dataloader = dict(
    _delete_=True,
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='clip_pseudo_collate'),
    dataset=dict(
        type='VideoClipDataset',
        clip_len=clip_len,
        clip_stride=clip_len,  # each frame in one clip per epoch
        dataset=dict(type='JhmdbDataset', data_root={{_base_.data_root}}, data_mode='topdown',
                     ann_file='annotations/Sub1_train.json', data_prefix=dict(img=''),
                     pipeline={{_base_.train_pipeline}})))

train_cfg = dict(max_epochs=3, val_interval=3)
# the gates learn 100x faster than the (already trained) weights
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4),
                     paramwise_cfg=dict(custom_keys={'.gate.conv': dict(lr_mult=100.0)}))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='GumbelTemperatureHook', start=2 / 3, end=0.1),
]
