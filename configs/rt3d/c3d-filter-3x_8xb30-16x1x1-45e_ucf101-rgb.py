# The recipe of c3d-kgs-2x with filter pruning to 1/3 of the conv MACs.
_base_ = './c3d-kgs-2x_8xb30-16x1x1-45e_ucf101-rgb.py'

custom_hooks = [
    dict(type='KernelGroupPruningHook', scheme='filter', ratios={{_base_.pruned_layers}},
         group_size=(8, 8), penalty=1e-4, reweight_interval=5, prune_epoch=15, flop_reduction=3.0,
         input_shape=(1, 3, 16, 112, 112))
]
