# The recipe of r2plus1d-tiny-kgs-2x with vanilla pruning to 1/2 of the conv MACs.
_base_ = './r2plus1d-tiny-kgs-2x_1xb8-8x1x1-8e_synthetic-actions-rgb.py'

custom_hooks = [
    dict(type='KernelGroupPruningHook', scheme='vanilla', ratios=0.0, group_size=(4, 4), pad=True,
         penalty=6e-5, reweight_interval=1, prune_epoch=3, flop_reduction=2.0,
         input_shape=(1, 3, 8, 32, 32))
]
