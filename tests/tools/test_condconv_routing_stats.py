"""tools/condconv_routing_stats.py: one (N, E) routing tensor per CondConv block over all
images, and a router that ignores its input shows no variation over the images."""

import pytest
import torch

from tests.helpers import build_model


@pytest.fixture(scope='module')
def tool():
    pytest.importorskip('mmdet', reason='EfficientNetCondConv is an mmdet backbone')
    from mmeff.benchmark import condconv_stats
    return condconv_stats


def test_routing_per_block_over_all_images(tool):
    torch.manual_seed(0)
    # batch statistics: the untrained running statistics (0, 1) shrink the features to ~0
    backbone = build_model(dict(type='EfficientNetCondConv', num_experts=4, out_indices=(5, )),
                           'mmdet').train()
    frozen = backbone.layers[5][0].router.fc
    torch.nn.init.zeros_(frozen.weight)  # this block's router ignores its input
    batches = [torch.randn(2, 3, 32, 32), torch.randn(3, 3, 32, 32)]
    weights = tool.routing_weights(backbone, batches)
    assert len(weights) == 8 and all(w.shape == (5, 4) for w in weights.values())
    assert tool.summary(weights['layers.5.0'])['std_over_images'] == 0
    assert tool.summary(weights['layers.5.1'])['std_over_images'] > 0
    row = tool.summary(torch.tensor([[0.01, 0.5], [0.99, 0.5]]))
    assert row['near_0'] == row['near_1'] == 0.25 and row['expert_means'] == pytest.approx(
        [0.5, 0.5])
