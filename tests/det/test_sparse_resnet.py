"""SparseBottleneck and SparseResNet: sparse inference == the dense-and-mask reference, stock
weights, the mask heads, the density losses and the detectors that report them."""
import itertools

import pytest
import torch
from mmdet.models.backbones import ResNet
from mmdet.models.backbones.resnet import Bottleneck
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmeff.det import INTEGRATIONS, SamplingRetinaNet, SparseBottleneck, SparseResNet
from mmeff.ops import has_extension
from tests.helpers import build_model

INTERPOLANTS = ('RBFInterpolant', 'ConvInterpolant', 'AvgPoolInterpolant', 'ZeroFillInterpolant',
                'NearestSampleInterpolant')
SMALL = dict(base_channels=8, stem_channels=8, norm_eval=False)


def randomised(model, seed=0):
    """Random mask heads (about half the positions kept), BatchNorm statistics and
    interpolant parameters, so that every path carries non-trivial values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'mask' in name:
                param.copy_(0.3 * torch.randn(param.shape, generator=g, dtype=param.dtype))
            elif 'interp' in name:
                param.add_(0.2 * torch.randn(param.shape, generator=g, dtype=param.dtype))
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(generator=g)
                module.running_var.uniform_(0.5, 2.0, generator=g)
                module.weight.normal_(generator=g)
                module.bias.normal_(generator=g)
    return model


@pytest.mark.skipif(not has_extension(), reason='mmeff.ops._ext is not built')
@pytest.mark.parametrize('integration, interpolant',
                         list(itertools.product(INTEGRATIONS, INTERPOLANTS)))
def test_sparse_inference_equals_dense_and_mask_reference(integration, interpolant):
    """The exactness contract, batch 2, a stride-2 and a stride-1 block, float64."""
    torch.manual_seed(0)
    model = SparseResNet(50, integration=integration, interpolant=dict(type=interpolant), **SMALL)
    model = randomised(model.double())
    model.eval()
    g = torch.Generator().manual_seed(1)
    for block, size in ((model.layer2[0], (33, 30)), (model.layer3[1], (17, 16))):
        assert isinstance(block, SparseBottleneck)
        x = torch.randn(2, block.inplanes, *size, generator=g, dtype=torch.float64)
        with torch.no_grad():
            _, masks = block.masks(x)
            density = masks[-1].double().mean().item()
            assert 0.1 < density < 0.9 and all(m.dtype == torch.bool for m in masks)
            sparse, dense = block(x), block.forward_dense(x, masks)
        torch.testing.assert_close(sparse, dense, rtol=1e-10, atol=1e-10)


@pytest.mark.skipif(not has_extension(), reason='mmeff.ops._ext is not built')
def test_sparse_backbone_in_float32_and_evaluation_is_deterministic():
    torch.manual_seed(0)
    model = randomised(SparseResNet(50, **SMALL))
    model.eval()
    x = torch.randn(2, 3, 64, 72)
    with torch.no_grad():
        first, second = model(x), model(x)
        dense = [None] * 4

        def dense_forward(block, inputs, output):
            return block.forward_dense(inputs[0], block.masks(inputs[0])[1])

        handles = [b.register_forward_hook(dense_forward) for b in model.sparse_blocks()]
        dense = model(x)
        for h in handles:
            h.remove()
    for a, b, c in zip(first, second, dense):
        assert torch.equal(a, b)
        torch.testing.assert_close(a, c, rtol=1e-4, atol=1e-4)


def test_stock_resnet_weights_load_with_only_the_new_keys_missing():
    stock = ResNet(50, **SMALL).state_dict()
    model = SparseResNet(50, **SMALL)
    result = model.load_state_dict(stock, strict=False)
    assert not result.unexpected_keys
    assert result.missing_keys and all(
        '.mask1_head.' in k or '.mask2_head.' in k or '.interp1.' in k or '.interp2.' in k
        for k in result.missing_keys)
    assert any(k.endswith('mask2_head.temperature') for k in result.missing_keys)
    assert torch.equal(model.state_dict()['layer1.0.conv2.weight'], stock['layer1.0.conv2.weight'])


def test_sparse_stages_switch_blocks_per_stage():
    model = SparseResNet(50, sparse_stages=(False, True, False, True), **SMALL)
    kinds = [type(getattr(model, f'layer{i}')[0]) for i in range(1, 5)]
    assert kinds == [Bottleneck, SparseBottleneck, Bottleneck, SparseBottleneck]
    assert len(model.sparse_blocks()) == 4 + 3


def test_mask_heads_start_nearly_dense_after_init_weights():
    model = SparseResNet(50, **SMALL)
    model.init_weights()
    head = model.layer2[0].mask2_head
    assert torch.all(head.conv.weight == 0) and torch.all(head.conv.bias == 3.0)
    assert head.conv.stride == (2, 2) and model.layer2[0].mask1_head.conv.stride == (1, 1)
    assert head.temperature.item() == 1.0


def test_training_gradients_reach_mask_heads_bandwidth_and_conv_window():
    for interpolant in ('RBFInterpolant', 'ConvInterpolant'):
        torch.manual_seed(0)
        model = randomised(SparseResNet(50, interpolant=dict(type=interpolant), **SMALL))
        model.train()
        outs = model(torch.randn(2, 3, 48, 48))
        losses = model.sampling_losses()
        (sum(o.square().mean() for o in outs) + losses['loss_sparse']).backward()
        block = model.layer2[0]
        for name in ('mask1_head.conv.weight', 'mask2_head.conv.weight'):
            assert block.get_parameter(name).grad.abs().sum() > 0
        for param in (*block.interp1.parameters(), *block.interp2.parameters()):
            assert param.grad is not None and param.grad.abs().sum() > 0


def test_sparse_loss_is_the_papers_and_budget_penalises_the_gap():
    torch.manual_seed(0)
    model = randomised(
        SparseResNet(50, sparse_loss_weight=0.2, budget=0.3, budget_weight=2.0, **SMALL))
    model.train()
    model(torch.randn(1, 3, 40, 40))
    losses = model.sampling_losses()
    blocks = model.sparse_blocks()
    per_block = [
        0.25 * b.sampling_probabilities[0].mean() + 0.75 * b.sampling_probabilities[1].mean()
        for b in blocks
    ]
    torch.testing.assert_close(losses['loss_sparse'], 0.2 * sum(per_block) / len(blocks))
    share = losses['mac_share'].item()
    assert 0 < share < 1 and not losses['mac_share'].requires_grad
    assert losses['loss_budget'].item() == pytest.approx(2.0 * (share - 0.3)**2, rel=1e-5)


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError, match='integration must be one of'):
        SparseResNet(50, integration='outer', **SMALL)
    with pytest.raises(ValueError, match='depth must be 50, 101 or 152'):
        SparseResNet(18, **SMALL)
    with pytest.raises(ValueError, match='sparse_stages needs 4 entries'):
        SparseResNet(50, sparse_stages=(True, ), **SMALL)
    with pytest.raises(ValueError, match=r'budget must be in \(0, 1\]'):
        SparseResNet(50, budget=1.5, **SMALL)
    with pytest.raises(ValueError, match='dcn and plugins are not supported'):
        SparseResNet(50, dcn=dict(type='DCN', deform_groups=1), stage_with_dcn=(True, ) * 4,
                     **SMALL)
    with pytest.raises(RuntimeError, match='no training forward'):
        SparseResNet(50, **SMALL).layer1[0].sampling_loss()


def test_retinanet_loss_dict_carries_the_sampling_losses():
    cfg = dict(
        type='SamplingRetinaNet', data_preprocessor=dict(type='DetDataPreprocessor', mean=[0.0] * 3,
                                                         std=[255.0] * 3),
        backbone=dict(type='SparseResNet', depth=50, num_stages=2, strides=(1, 2), dilations=(1, 1),
                      out_indices=(1, ), budget=0.5, **SMALL),
        neck=dict(type='FPN', in_channels=[64], out_channels=8, num_outs=1), bbox_head=dict(
            type='RetinaHead', num_classes=2, in_channels=8, stacked_convs=1, feat_channels=8,
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=1,
                                  ratios=[1.0], strides=[8]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                            target_stds=[1.0] * 4),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                          alpha=0.25), loss_bbox=dict(type='L1Loss')), train_cfg=dict(
                              assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                                            min_pos_iou=0), sampler=dict(type='PseudoSampler'),
                              allowed_border=-1, pos_weight=-1, debug=False))
    torch.manual_seed(0)
    model = build_model(cfg, 'mmdet').train()
    assert isinstance(model, SamplingRetinaNet)
    sample = DetDataSample(metainfo=dict(img_shape=(32, 32), ori_shape=(32, 32)))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[4.0, 8, 16, 20]]),
                                       labels=torch.tensor([1]))
    batch = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8)], data_samples=[sample]),
        True)
    losses = model.loss(batch['inputs'], batch['data_samples'])
    assert {'loss_cls', 'loss_bbox', 'loss_sparse', 'loss_budget', 'mac_share'} <= set(losses)
    losses['loss_budget'].backward()
    assert model.backbone.layer2[0].mask2_head.conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    'name', ['faster-rcnn_sparse-r50_fpn_1x_coco.py', 'retinanet_sparse-r50_fpn_1x_coco.py'])
def test_coco_configs_build_and_take_stock_resnet50_weights(name):
    from pathlib import Path

    from mmengine.config import Config
    cfg = Config.fromfile(
        str(Path(__file__).resolve().parents[2] / 'configs' / 'sampling_interp' / name))
    assert cfg.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
    model = build_model(cfg.model, 'mmdet')
    assert isinstance(model.backbone, SparseResNet) and len(model.backbone.sparse_blocks()) == 16
    stock = ResNet(50).state_dict()
    result = model.backbone.load_state_dict(stock, strict=False)
    assert not result.unexpected_keys and all('_head.' in k or '.interp' in k
                                              for k in result.missing_keys)
