"""count_mixture_macs: hand-counted small models; EfficientNet-B0 and -CondConv-B0 (4e, 8e)
against the published parameter and MADD table (tensorflow/tpu condconv README)."""
import pytest
import torch
from torch import nn

from mmeff.layers import CondConv2d
from mmeff.utils import count_mixture_macs


def test_hand_counted_condconv_conv_and_linear():
    model = nn.Sequential(
        CondConv2d(4, 6, 3, stride=2, padding=1, num_experts=5, routing='sigmoid'),
        nn.Conv2d(6, 6, 3, padding=1, groups=3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(6, 10))
    macs = count_mixture_macs(model, torch.zeros(2, 4, 8, 8))
    # CondConv: 2 images x 4x4 outputs x 6 x 4 x 9; the mix of 5 experts of 6*4*9 weights
    # and 6 biases per image; the router (4 -> 5) and the classifier (6 -> 10) per image.
    assert macs.conv == 2 * 16 * 6 * 4 * 9 + 2 * 16 * 6 * 2 * 9
    assert macs.mix == 2 * 5 * (6 * 4 * 9 + 6)
    assert macs.linear == 2 * (4 * 5 + 6 * 10)
    assert macs.total == macs.conv + macs.mix + macs.linear


# model, params (M), MADDs (M) of the published table
PUBLISHED = [(dict(type='EfficientNet'), 5.3, 391),
             (dict(type='EfficientNetCondConv', num_experts=4), 13.3, 402),
             (dict(type='EfficientNetCondConv', num_experts=8), 24.0, 413)]


def test_efficientnet_condconv_b0_counts_match_the_published_table():
    pytest.importorskip('mmdet', reason='the backbones are mmdet backbones')
    import mmdet.models  # noqa: F401

    from mmeff.det import EfficientNetClassifier
    counts = []
    for backbone, params, madds in PUBLISHED:
        model = EfficientNetClassifier(backbone).eval()
        macs = count_mixture_macs(model, torch.zeros(1, 3, 224, 224))
        counts.append(macs)
        assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(params, rel=5e-3)
        # convs, mixes and linear layers only: 1.3 % below the published MADDs (docs/condconv.md)
        assert macs.total / 1e6 == pytest.approx(madds, rel=0.02)
    static = counts[0]
    for macs, (_, _, madds) in zip(counts[1:], PUBLISHED[1:]):
        assert macs.conv == static.conv  # one conv per CondConv layer, the static B0's
        # the increment over static B0 is the mix: +11 M (4e) and +22 M (8e) published
        assert (macs.total - static.total) / 1e6 == pytest.approx(madds - 391, rel=0.05)
