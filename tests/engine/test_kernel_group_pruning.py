"""RT3D training pieces: the live penalty, reweighting, hard pruning, masked retraining, resume."""
import copy

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from mmeff.engine import (GroupLassoOptimWrapper, KernelGroupPruningHook, group_lasso_penalty,
                          ratio_for_flop_reduction, reweighted_alphas)
from mmeff.layers.kernel_group_sparsity import masked_convs, unit_norms


class TinyVideoNet(BaseModel):
    """A backbone of two Conv3d layers and a linear classifier on (N, 3, 4, 8, 8) clips."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv3d(3, 8, 3, padding=1), nn.ReLU(),
                                      nn.Conv3d(8, 16, 3, padding=1))
        self.fc = nn.Linear(16, 2)

    def forward(self, inputs, labels, mode='loss'):
        x = self.backbone(inputs).mean((2, 3, 4))
        logits = self.fc(x)
        if mode == 'loss':
            return dict(loss=nn.functional.cross_entropy(logits, labels))
        return logits


class ClipDataset(torch.utils.data.Dataset):

    def __init__(self, size=16):
        g = torch.Generator().manual_seed(0)
        self.clips = torch.randn(size, 3, 4, 8, 8, generator=g)
        self.labels = (self.clips.mean((1, 2, 3, 4)) > 0).long()

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, i):
        return dict(inputs=self.clips[i], labels=self.labels[i])


def make_runner(tmp_path, hook, epochs, model=None, wrapper='GroupLassoOptimWrapper', **kwargs):
    torch.manual_seed(0)
    return Runner(
        model=model or TinyVideoNet(), work_dir=str(tmp_path),
        train_dataloader=dict(dataset=ClipDataset(), batch_size=4,
                              sampler=dict(type='DefaultSampler',
                                           shuffle=False), collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(type=wrapper, optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        train_cfg=dict(by_epoch=True, max_epochs=epochs), custom_hooks=[hook],
        default_hooks=dict(logger=dict(type='LoggerHook', interval=100),
                           checkpoint=dict(type='CheckpointHook', interval=1)),
        env_cfg=dict(dist_cfg=dict(backend='gloo')), **kwargs)


def test_penalty_has_a_gradient_on_the_live_weights():
    model = TinyVideoNet()
    convs = {'backbone.0': model.backbone[0], 'backbone.2': model.backbone[2]}
    alphas = reweighted_alphas(convs, 'kgs', (4, 4), True, 1e-6)
    penalty = group_lasso_penalty(convs, alphas, 'kgs', (4, 4), True)
    penalty.backward()
    for conv in convs.values():
        assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    norms = unit_norms(model.backbone[2].weight, 'kgs', (4, 4)).detach()
    torch.testing.assert_close(alphas['backbone.2'], 1 / (norms.square() + 1e-6))


def test_training_with_the_penalty_shrinks_the_groups(tmp_path):
    finals = {}
    for penalty in (0.0, 0.05):
        hook = dict(type='KernelGroupPruningHook', scheme='vanilla', group_size=(4, 4),
                    ratios={'backbone.2': 0.5}, penalty=penalty, prune_epoch=100)
        runner = make_runner(tmp_path / str(penalty), hook, epochs=3)
        initial = unit_norms(runner.model.backbone[2].weight, 'vanilla', (4, 4)).sum().item()
        runner.train()
        finals[penalty] = unit_norms(runner.model.backbone[2].weight, 'vanilla',
                                     (4, 4)).sum().item()
        assert not list(masked_convs(runner.model))  # no prune before prune_epoch
    assert finals[0.05] < 0.9 * finals[0.0] and finals[0.05] < initial


def test_hard_prune_then_masked_retraining_keeps_pruned_weights_zero_and_resumes(tmp_path):
    hook = dict(type='KernelGroupPruningHook', scheme='kgs', group_size=(4, 4), ratios={
        'backbone.0': 0.3,
        'backbone.2': 0.6
    }, penalty=1e-4, prune_epoch=1)
    runner = make_runner(tmp_path, hook, epochs=3)
    runner.train()
    masks = {name: conv.weight_mask.clone() for name, conv in masked_convs(runner.model)}
    assert set(masks) == {'backbone.0', 'backbone.2'}
    assert (~masks['backbone.2']).float().mean().item() == pytest.approx(0.6, abs=0.02)
    for name, conv in masked_convs(runner.model):
        assert (conv.weight[~conv.weight_mask] == 0).all(), name
        assert conv.weight[conv.weight_mask].abs().min() > 0
    # resume from the last checkpoint into a fresh model: masks come back, training goes on
    resumed = make_runner(tmp_path, dict(hook), epochs=4, resume=True)
    resumed.train()
    restored = dict(masked_convs(resumed.model))
    assert set(restored) == set(masks) and resumed.epoch == 4
    for name, mask in masks.items():
        assert torch.equal(restored[name].weight_mask, mask)
        assert (restored[name].weight[~mask] == 0).all()


def test_counting_macs_leaves_bn_statistics_and_modes_alone():
    """The count runs on every resume (``before_train``): it must not move BN statistics."""
    from mmeff.engine.kernel_group_pruning import conv_macs
    model = nn.Sequential(nn.Conv3d(3, 4, 3), nn.BatchNorm3d(4), nn.Conv3d(4, 4, 1)).train()
    model[2].eval()  # a module kept in eval mode by its owner stays so
    before = copy.deepcopy(model.state_dict())
    macs = conv_macs(model, (1, 3, 4, 8, 8))
    assert macs == {'0': 4 * 2 * 6 * 6 * 3 * 27, '2': 4 * 2 * 6 * 6 * 4}
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert model.training and model[1].training and not model[2].training


def test_flop_target_gives_one_ratio():
    macs = {'a': 100, 'b': 300}
    assert ratio_for_flop_reduction(macs, ['b'], 2.0) == pytest.approx(200 / 300)
    with pytest.raises(ValueError, match='out of reach'):
        ratio_for_flop_reduction(macs, ['a'], 2.0)
    model = TinyVideoNet()
    hook = KernelGroupPruningHook(ratios={'backbone.2': 0.0}, flop_reduction=1.5, group_size=(4, 4),
                                  input_shape=(1, 3, 4, 8, 8))
    ratios = hook.layer_ratios(model)
    total = 8 * 3 * 27 * 256 + 16 * 8 * 27 * 256
    assert ratios['backbone.2'] == pytest.approx((total - total / 1.5) / (16 * 8 * 27 * 256))


def test_bad_configs_get_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r'ratio must be a number in \[0, 1\)'):
        KernelGroupPruningHook(ratios={'backbone.0': 1.0})
    with pytest.raises(ValueError, match='scheme must be one of'):
        KernelGroupPruningHook(scheme='channel')
    with pytest.raises(TypeError, match='supports nn.Conv3d'):
        KernelGroupPruningHook(ratios={'fc': 0.5}).targets(TinyVideoNet())
    with pytest.raises(ValueError, match='does not have'):
        KernelGroupPruningHook(ratios={'backbone.9': 0.5}).targets(TinyVideoNet())
    hook = dict(type='KernelGroupPruningHook', penalty=1e-4, group_size=(4, 4))
    with pytest.raises(TypeError, match='needs optim_wrapper'):
        make_runner(tmp_path, hook, epochs=1, wrapper='OptimWrapper').train()
    model = copy.deepcopy(TinyVideoNet())
    unpadded = dict(type='KernelGroupPruningHook', ratios=0.5, pad=False, prune_epoch=0)
    with pytest.raises(ValueError, match='does not divide'):
        make_runner(tmp_path / 'pad', unpadded, epochs=1, model=model).train()
    assert GroupLassoOptimWrapper.penalty is None


def test_mmaction_configs_reach_the_hook_and_the_wrapper():
    registry = pytest.importorskip('mmaction.registry', reason='mmaction2 is not installed')
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmaction'):
        hook = registry.HOOKS.build(dict(type='KernelGroupPruningHook', scheme='vanilla'))
        wrapper = registry.OPTIM_WRAPPERS.get('GroupLassoOptimWrapper')
    assert isinstance(hook, KernelGroupPruningHook) and wrapper is GroupLassoOptimWrapper


@pytest.mark.parametrize('config', [
    'c3d-kgs-2x_8xb30-16x1x1-45e_ucf101-rgb.py', 'c3d-filter-3x_8xb30-16x1x1-45e_ucf101-rgb.py',
    'r2plus1d-r34-vanilla-2x_8xb8-8x8x1-180e_kinetics400-rgb.py'
])
def test_rt3d_configs_prune_their_model_to_the_flop_target(config):
    pytest.importorskip('mmaction', reason='mmaction2 is not installed')
    from mmengine.config import Config

    from mmeff.engine.kernel_group_pruning import conv_macs
    from mmeff.layers.kernel_group_sparsity import prune_model
    from tests.helpers import REPO, build_model
    cfg = Config.fromfile(str(REPO / 'configs' / 'rt3d' / config))
    model = build_model(cfg.model, 'mmaction')
    hook_cfg = dict(cfg.custom_hooks[0])
    assert hook_cfg.pop('type') == 'KernelGroupPruningHook'
    hook = KernelGroupPruningHook(**hook_cfg)
    ratios = hook.layer_ratios(model)
    dense = sum(conv_macs(model, hook.input_shape).values())
    prune_model(model, hook.scheme, ratios, hook.group_size, hook.pad)
    kept = {
        name: int(conv.weight_mask.float().mean() * conv.weight.numel())
        for name, conv in masked_convs(model)
    }
    macs = conv_macs(model, hook.input_shape)
    pruned_macs = sum(macs[name] * kept[name] //
                      model.get_submodule(name).weight.numel() if name in kept else value
                      for name, value in macs.items())
    assert dense / pruned_macs == pytest.approx(hook.flop_reduction, rel=0.03)


def test_a_resume_between_refreshes_keeps_the_penalty_weights(tmp_path):
    """α refreshed at epoch 0 only (reweight_interval=2): a run stopped after epoch 1 and
    resumed must go on with epoch 0's α (from the checkpoint), not α of the resumed weights,
    and so end with the uninterrupted run's weights."""
    hook = dict(type='KernelGroupPruningHook', scheme='kgs', group_size=(4, 4), ratios=0.5,
                penalty=0.05, reweight_interval=2, prune_epoch=100)
    whole = make_runner(tmp_path / 'whole', dict(hook), epochs=2)
    whole.train()
    make_runner(tmp_path / 'parts', dict(hook), epochs=1).train()
    saved = torch.load(tmp_path / 'parts' / 'epoch_1.pth')['kernel_group_pruning']['alphas']
    resumed = make_runner(tmp_path / 'parts', dict(hook), epochs=2, resume=True)
    resumed.train()
    (resumed_hook, ) = [h for h in resumed.hooks if isinstance(h, KernelGroupPruningHook)]
    assert resumed_hook.alphas.keys() == saved.keys() == {'backbone.0', 'backbone.2'}
    for name, alpha in saved.items():
        assert torch.equal(resumed_hook.alphas[name], alpha), name
    for name, weight in whole.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], weight, rtol=0, atol=1e-6)
