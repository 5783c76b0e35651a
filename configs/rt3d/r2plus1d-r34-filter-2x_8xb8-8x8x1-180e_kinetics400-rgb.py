# The recipe of r2plus1d-r34-kgs-2x with filter pruning to 1/2 of the conv MACs.
_base_ = './r2plus1d-r34-kgs-2x_8xb8-8x8x1-180e_kinetics400-rgb.py'

custom_hooks = [
    dict(type='KernelGroupPruningHook', scheme='filter', ratios=0.0, group_size=(8, 8), pad=True,
         penalty=1e-4, reweight_interval=10, prune_epoch=60, flop_reduction=2.0,
         input_shape=(1, 3, 8, 112, 112))
]
