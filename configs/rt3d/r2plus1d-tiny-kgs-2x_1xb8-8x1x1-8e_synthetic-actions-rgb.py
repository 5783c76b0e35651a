# Stage 2 of the RT3D chain on the synthetic motion dataset: starts from the dense stage's last
# checkpoint (train r2plus1d-tiny_1xb8-8x1x1-8e_synthetic-actions-rgb.py first, same work_dirs
# root), then epochs 0-2: reweighted group lasso on every Conv3d (alpha refreshed every epoch);
# epoch 3: hard KGS prune (4x4 kernel groups, partial groups padded) by one ratio that halves the
# conv MACs of an 8x32x32 clip; epochs 3-7: masked retraining. lambda is set per scheme so that
# the penalty starts near 0.5 on the dense checkpoint (the loss is about 0.25 there): the
# reweighted penalty is about 1/|W| per unit, and the model has 32793 KGS units, 5745 kernel
# groups and 1600 filters (see docs/rt3d.md).
_base_ = './r2plus1d-tiny_1xb8-8x1x1-8e_synthetic-actions-rgb.py'

load_from = 'work_dirs/r2plus1d-tiny_1xb8-8x1x1-8e_synthetic-actions-rgb/epoch_8.pth'
optim_wrapper = dict(type='GroupLassoOptimWrapper')
custom_hooks = [
    dict(type='KernelGroupPruningHook', scheme='kgs', ratios=0.0, group_size=(4, 4), pad=True,
         penalty=3e-6, reweight_interval=1, prune_epoch=3, flop_reduction=2.0,
         input_shape=(1, 3, 8, 32, 32))
]
