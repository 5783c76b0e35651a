"""MAC accounting of sampling-interpolation blocks (the paper's sparse charges) through the one
MacCounter, and a low-temperature training step whose gradients stay finite."""
import pytest
import torch
from mmdet.models.backbones.resnet import Bottleneck
from torch import nn

from mmeff.det import INTEGRATIONS, SparseBottleneck, SparseResNet
from mmeff.det.sparse_bottleneck import FoldedCache, folded, interpolation_macs
from mmeff.ops import has_extension
from mmeff.utils import MacCounter


def downsampling_blocks(integration):
    """A stock and a sparse stride-2 bottleneck with the same shapes (32 -> 64 channels)."""
    shortcut = nn.Sequential(nn.Conv2d(32, 64, 1, stride=2, bias=False), nn.BatchNorm2d(64))
    stock = Bottleneck(32, 16, stride=2, downsample=shortcut).eval()
    sparse = SparseBottleneck(32, 16, stride=2, downsample=shortcut, integration=integration,
                              grid_interval=0).eval()
    return stock, sparse


def counted(model, x):
    with torch.no_grad(), MacCounter(model) as counter:
        model(x)
        return counter.update()


def set_keep_logit(block, logit):
    """Mask heads that keep every position (logit > 0) or none (logit < 0)."""
    for head in (getattr(block, 'mask1_head', None), block.mask2_head):
        if head is not None:
            nn.init.zeros_(head.conv.weight)
            nn.init.constant_(head.conv.bias, logit)


@pytest.mark.skipif(not has_extension(), reason='mmeff.ops._ext is not built')
@pytest.mark.parametrize('integration', INTEGRATIONS)
def test_dense_count_is_the_stock_bottlenecks_and_the_charges_follow_the_masks(integration):
    stock, sparse = downsampling_blocks(integration)
    x = torch.randn(2, 32, 20, 18)
    dense = counted(stock, x).dense
    out_pixels, in_pixels = 2 * 10 * 9, 2 * 20 * 18
    want = in_pixels * 32 * 16 + out_pixels * (9 * 16 * 16 + 16 * 64 + 32 * 64)
    assert dense == want
    heads = out_pixels * 9 * 32 + (in_pixels * 32 * 9 if integration == 'inner' else 0)
    shortcut = out_pixels * 32 * 64

    set_keep_logit(sparse, 10.0)  # everything kept: the dense convs, the heads, no interpolation
    full = counted(sparse, x)
    assert full.dense == dense and full.executed == dense + heads

    set_keep_logit(sparse, -10.0)  # nothing kept: the heads and the dense shortcut only
    empty = counted(sparse, x)
    assert empty.dense == dense
    assert empty.executed == heads + (0 if integration == 'block' else shortcut)


def test_interpolation_charge_is_k2_c_hw_rho_one_minus_rho():
    mask = torch.zeros(2, 4, 5, dtype=torch.bool)
    mask[0, 0, :2] = True  # image 0: 2 of 20 kept; image 1: none
    assert interpolation_macs(mask, channels=8, kernel_size=7) == round(49 * 8 * 2 * 18 / 20)


def test_backbone_part_of_a_detector_counts_the_sparse_blocks_and_the_stem():
    torch.manual_seed(0)
    backbone = SparseResNet(50, base_channels=8, stem_channels=8, norm_eval=False)
    model = nn.Module()
    model.backbone, model.neck = backbone, nn.Conv2d(256, 8, 1)
    model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad(), MacCounter(model) as counter:
        assert not any(m._forward_hooks for m in backbone.sparse_blocks())
        assert not backbone.layer1[0].conv1._forward_hooks  # inside a self-counting block
        assert backbone.conv1._forward_hooks  # the stem is a plain conv
        features = backbone(x)
        model.neck(features[-1])
        frame = counter.update()
        part = counter.last_frame_part('backbone')
    blocks = backbone.sparse_blocks()
    stem = 32 * 32 * 3 * 49 * 8
    assert part.dense == stem + sum(b.dense_macs for b in blocks)
    assert part.executed == stem + sum(b.executed_macs for b in blocks)
    assert frame.dense == part.dense + 2 * 2 * 256 * 8
    assert counter.has_part('backbone') and not counter.has_part('head')


def test_low_temperature_training_step_has_finite_gradients():
    """Soft masks at T = 0.03 reach float32's denormal range; the mask head's floor keeps the
    normalised interpolation's gradient finite."""
    torch.manual_seed(0)
    model = SparseResNet(50, base_channels=8, stem_channels=8, norm_eval=False)
    model.train()
    for block in model.sparse_blocks():
        for head in (block.mask1_head, block.mask2_head):
            head.temperature.fill_(0.03)
            nn.init.normal_(head.conv.weight, std=0.1)
            nn.init.constant_(head.conv.bias, -2.0)
    sum(f.sum() for f in model(torch.randn(4, 3, 96, 96))).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_folded_cache_recomputes_after_every_kind_of_change():
    conv, bn = nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4).eval()
    pairs = [(conv, bn)]
    cache = FoldedCache()

    def fresh_and_matching():
        got = cache.get(pairs)
        want = folded(conv, bn)
        return all(torch.equal(a, b) for a, b in zip(got[0], want)), got

    with torch.no_grad():
        ok, first = fresh_and_matching()
        assert ok and cache.get(pairs) is first  # unchanged: cached
        bn.running_var.mul_(2)  # in place
        ok, second = fresh_and_matching()
        assert ok and second is not first
        conv.weight = nn.Parameter(torch.randn(4, 3, 1, 1))  # another tensor
        assert fresh_and_matching()[0]
        conv.double()
        bn.double()  # another storage and dtype
        ok, third = fresh_and_matching()
        assert ok and third[0][0].dtype == torch.float64
    ok, fourth = fresh_and_matching()  # grad mode on
    assert ok and fourth is not third and fourth[0][0].requires_grad
    with torch.inference_mode():
        conv, bn = nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4).eval()  # inference tensors
        pairs = [(conv, bn)]
        assert fresh_and_matching()[0]
        bn.running_mean.add_(1)  # no version counter to notice it: nothing was cached
        assert fresh_and_matching()[0]
