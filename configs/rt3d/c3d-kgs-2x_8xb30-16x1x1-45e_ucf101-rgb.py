# RT3D on mmaction2's stock C3D UCF101 recipe: KGS pruning (8x8 kernel groups) to half the conv
# MACs of a 16x112x112 clip. Epochs 0-14: reweighted group lasso on conv2a-conv5b (alpha refreshed
# every 5 epochs); epoch 15: hard prune by one ratio for those layers that halves the MACs;
# epochs 15-44: masked retraining. Pack the trained model with mmeff.convert_to_kgs.
_base_ = 'mmaction::recognition/c3d/c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb.py'
custom_imports = dict(imports=['mmeff'], allow_failed_imports=False)

pruned_layers = {
    f'backbone.conv{name}.conv': 0.5
    for name in ('2a', '3a', '3b', '4a', '4b', '5a', '5b')
}
optim_wrapper = dict(type='GroupLassoOptimWrapper')
custom_hooks = [
    dict(type='KernelGroupPruningHook', scheme='kgs', ratios=pruned_layers, group_size=(8, 8),
         penalty=1e-4, reweight_interval=5, prune_epoch=15, flop_reduction=2.0,
         input_shape=(1, 3, 16, 112, 112))
]
