"""EfficientDetHead: shapes, shared convs with per-level BatchNorm, losses, anchors."""
import math

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

import mmeff
from mmeff.det import EfficientDetHead


def pyramid(channels=16, size=64, batch=2):
    return [
        torch.randn(batch, channels, -(-size // s), -(-size // s)) for s in (8, 16, 32, 64, 128)
    ]


def make_head(**kwargs):
    head = EfficientDetHead(num_classes=3, in_channels=16, feat_channels=16, **kwargs)
    head.init_weights()
    return head


def test_outputs_per_level():
    head = make_head().eval()
    with torch.no_grad():
        cls_scores, bbox_preds = head(pyramid())
    assert len(cls_scores) == len(bbox_preds) == 5
    for feat, cls, box in zip(pyramid(), cls_scores, bbox_preds):
        assert cls.shape == (2, 9 * 3, *feat.shape[-2:])
        assert box.shape == (2, 9 * 4, *feat.shape[-2:])


def test_convs_shared_batchnorms_per_level():
    head = make_head(stacked_convs=2)
    tower = head.cls_tower
    assert len(tower.convs) == 2 and len(tower.norms) == 5
    norms = [id(n) for level in tower.norms for n in level]
    assert len(set(norms)) == 10
    # A level's output changes with its own BatchNorm only.
    head.eval()
    feats = pyramid()
    with torch.no_grad():
        before = head(feats)[0]
        tower.norms[2][0].bias.add_(1.0)
        after = head(feats)[0]
    assert [not torch.equal(b, a)
            for b, a in zip(before, after)] == [False, False, True, False, False]


def test_prior_probability_of_the_class_outputs():
    head = make_head(prior_prob=0.01)
    bias = head.cls_out.pointwise.bias
    torch.testing.assert_close(torch.sigmoid(bias), torch.full_like(bias, 0.01))


def test_anchors_follow_the_paper():
    head = make_head()
    gen = head.prior_generator
    assert gen.num_base_priors == [9] * 5 and gen.strides == [(s, s) for s in (8, 16, 32, 64, 128)]
    anchors = gen.grid_priors([(2, 2)] * 5, device='cpu')[0]
    w, h = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    cx = (anchors[:, 0] + anchors[:, 2]) / 2
    # base size 4 x stride, 3 octave scales, area kept across aspect ratios; centred in cells
    # (rounded first: areas kept across aspect ratios agree only to float precision)
    assert torch.allclose((w * h).sqrt()[:9].round(decimals=2).unique().sort()[0],
                          torch.tensor([32 * 2**(i / 3) for i in range(3)]), rtol=1e-3)
    assert torch.allclose(cx[:9], torch.full((9, ), 4.0))


def test_losses_are_finite_and_reach_every_level():
    torch.manual_seed(0)
    head = make_head(train_cfg=dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0,
                      ignore_iof_thr=-1), sampler=dict(
                          type='PseudoSampler'), allowed_border=-1, pos_weight=-1, debug=False))
    samples = []
    for boxes in ([[4.0, 4.0, 40.0, 36.0]], [[10.0, 20.0, 30.0, 60.0], [0.0, 0.0, 64.0, 64.0]]):
        sample = DetDataSample(
            metainfo=dict(img_shape=(64, 64), pad_shape=(64, 64), batch_input_shape=(64, 64)))
        sample.gt_instances = InstanceData(bboxes=torch.tensor(boxes),
                                           labels=torch.zeros(len(boxes), dtype=torch.long))
        samples.append(sample)
    feats = [f.requires_grad_() for f in pyramid()]
    losses = head.loss(feats, samples)
    total = sum(sum(v) if isinstance(v, list) else v for v in losses.values())
    assert set(losses) == {'loss_cls', 'loss_bbox'} and math.isfinite(total.item())
    total.backward()
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in feats)


def test_converted_head_keeps_one_stream_per_level(capsys):
    head = make_head().eval()
    skip = mmeff.convert_to_skipconv(make_head().eval(), fuse_bn=False)
    skip.load_state_dict(head.state_dict(), strict=False)
    layers = [m for m in skip.modules() if isinstance(m, mmeff.SkipConv2d)]
    feats = pyramid(batch=1)
    with torch.no_grad():
        for t in range(3):
            feats[0] = feats[0].clone()
            feats[0][..., :2, :2] += 0.5  # only P3 changes, in one corner
            want = head(feats)
            got = skip(feats)
            for w, g in zip(want[0] + want[1], got[0] + got[1]):
                torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)
            executed = sum(m.executed_macs for m in layers)
            dense = sum(m.dense_macs for m in layers)
            if t == 0:  # key frame at every level
                assert executed == dense
            else:  # P4-P7 unchanged: only P3 (one 8x8 block of 8x8 positions) runs
                assert executed / dense == pytest.approx(64 / (64 + 16 + 4 + 1 + 1))
    assert 'stream is reset' not in capsys.readouterr().out


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='stacked_convs'):
        make_head(stacked_convs=0)
    with pytest.raises(ValueError, match='expected 5 levels'):
        make_head()(pyramid()[:4])
