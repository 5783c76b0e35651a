# RT3D on mmaction2's stock R(2+1)D-34 Kinetics-400 recipe: KGS pruning (8x8 kernel groups) of
# every Conv3d (the conv_s and conv_t of each Conv2plus1d; partial groups padded) to half the conv
# MACs of an 8x112x112 clip. Reweighted group lasso until epoch 60, hard prune at epoch 60, masked
# retraining after.
_base_ = 'mmaction::recognition/r2plus1d/r2plus1d_r34_8xb8-8x8x1-180e_kinetics400-rgb.py'
custom_imports = dict(imports=['mmeff'], allow_failed_imports=False)

optim_wrapper = dict(type='GroupLassoOptimWrapper')
custom_hooks = [
    dict(type='KernelGroupPruningHook', scheme='kgs', ratios=0.0, group_size=(8, 8), pad=True,
         penalty=1e-4, reweight_interval=10, prune_epoch=60, flop_reduction=2.0,
         input_shape=(1, 3, 8, 112, 112))
]
