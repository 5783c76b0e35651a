"""The RT3D chain with mmaction2's own tools/train.py on the synthetic actions: the dense stage,
then reweighted group lasso, a hard KGS prune to half the conv FLOPs and masked retraining from
the dense checkpoint (stopped after epoch 7), then a resume of the retraining to its end."""
from pathlib import Path

import torch
from mmengine.config import Config

from mmeff.engine import KernelGroupPruningHook
from mmeff.layers.kernel_group_sparsity import unit_norms
from tests.e2e.test_mmaction_tools import logged, mmaction_tool, run, synthetic_actions
from tests.helpers import REPO, build_model

CONFIGS = REPO / 'configs/rt3d'
DENSE = CONFIGS / 'r2plus1d-tiny_1xb8-8x1x1-8e_synthetic-actions-rgb.py'
KGS = CONFIGS / 'r2plus1d-tiny-kgs-2x_1xb8-8x1x1-8e_synthetic-actions-rgb.py'


def masks_and_weights(checkpoint: Path) -> dict:
    """{conv name: (mask, weight)} of every masked conv of a checkpoint."""
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
    return {
        key[:-len('.weight_mask')]: (mask, state[key[:-len('_mask')]])
        for key, mask in state.items() if key.endswith('.weight_mask')
    }


def test_rt3d_chain_learns_prunes_to_the_asked_ratio_and_resumes_with_its_masks(tmp_path):
    train_tool = mmaction_tool('train.py')
    paths = synthetic_actions(tmp_path)
    dense = tmp_path / 'dense'
    run([train_tool, DENSE, '--work-dir', dense, '--cfg-options', 'randomness.seed=0', *paths],
        tmp_path)
    losses = logged(dense, 'loss')
    assert sum(losses[-3:]) < 0.7 * sum(losses[:3]), f'the dense loss does not fall: {losses}'

    pruned = tmp_path / 'kgs'
    # (--cfg-options come after --resume in tools/train.py: a load_from here would override it)
    options = ['randomness.seed=0', 'default_hooks.checkpoint.interval=1', *paths]
    run([
        train_tool, KGS, '--work-dir', pruned, '--cfg-options', f'load_from={dense}/epoch_8.pth',
        'train_cfg.max_epochs=7', *options
    ], tmp_path)

    cfg = Config.fromfile(str(KGS))
    hook_cfg = dict(cfg.custom_hooks[0])
    hook_cfg.pop('type')
    hook = KernelGroupPruningHook(**hook_cfg)
    ratios = hook.layer_ratios(build_model(cfg.model, 'mmaction'))
    retrained = masks_and_weights(pruned / 'epoch_7.pth')  # four epochs after the prune
    assert set(retrained) == set(ratios)  # every Conv3d of the model
    for name, (mask, weight) in retrained.items():
        units = unit_norms(mask.float(), 'kgs', hook.group_size, pad=True)
        assert int((units == 0).sum()) == round(ratios[name] * units.numel()), name
        assert not weight[~mask].any(), f'{name}: a pruned weight moved in retraining'
    dense_weights = torch.load(dense / 'epoch_8.pth', weights_only=False)['state_dict']
    assert any(not torch.equal(weight[mask], dense_weights[f'{name}.weight'][mask])
               for name, (mask, weight) in retrained.items())

    run([
        train_tool, KGS, '--work-dir', pruned, '--resume', pruned / 'epoch_7.pth', '--cfg-options',
        *options
    ], tmp_path)
    resumed = masks_and_weights(pruned / 'epoch_8.pth')
    for name, (mask, weight) in resumed.items():
        assert torch.equal(mask, retrained[name][0]), f'{name}: the mask changed on resume'
        assert not weight[~mask].any(), f'{name}: a pruned weight moved after the resume'
    assert any(not torch.equal(weight, retrained[name][1])
               for name, (_, weight) in resumed.items()), 'the resumed epoch trained nothing'
    val_top1 = logged(pruned, 'acc/top1')[-1]  # the resumed run's validation, at epoch 8
    assert val_top1 >= 0.5, f'4 classes, chance 0.25: top-1 of the pruned model {val_top1}'
