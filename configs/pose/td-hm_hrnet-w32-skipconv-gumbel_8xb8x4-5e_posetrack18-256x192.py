# Gumbel-gate fine-tuning of HRNet-W32 on PoseTrack18 from a dense checkpoint, with mmpose's
# tools/train.py: SkipConv2d with trainable 8x8-block GumbelGates, batches of 8 clips x 4
# consecutive frames (one crop and one augmentation per clip), the gate MAC loss added to the
# loss dict, the temperature annealed by GumbelTemperatureHook.
#   python <mmpose>/.mim/tools/train.py THIS_CONFIG --cfg-options load_from=DENSE.pth
_base_ = './td-hm_hrnet-w32_8xb64-20e_posetrack18-256x192.py'
clip_len = 4
load_from = None

model = dict(
    _delete_=True, type='SkipConvModel',
    model=dict(type='ClipTopdownPoseEstimator', clip_len=clip_len, gate_loss_weight=0.05,
               data_preprocessor={{_base_.model.data_preprocessor}},
               backbone={{_base_.model.backbone}}, head={{_base_.model.head}},
               test_cfg={{_base_.model.test_cfg}}), gate=dict(type='GumbelGate', block_size=8,
                                                              init_bias=1.0))

train_dataloader = dict(
    batch_size=8, collate_fn=dict(type='clip_pseudo_collate'),
    dataset=dict(_delete_=True, type='VideoClipDataset', clip_len=clip_len, clip_stride=2,
                 dataset={{_base_.train_dataloader.dataset}}))
train_cfg = dict(max_epochs=5, val_interval=1)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4),
                     paramwise_cfg=dict(custom_keys={'.gate.conv': dict(lr_mult=100.0)}))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='GumbelTemperatureHook', start=2 / 3, end=0.1),
]
