"""mmeff.benchmark.sampling_stages (tools/benchmark_sampling_interp.py --breakdown): the stages
run the block's own computation, and the bound adds up."""
import time

import pytest
import torch
from mmdet.models.backbones.resnet import Bottleneck
from torch import nn

from mmeff.benchmark import sampling_stages
from mmeff.det import SparseBottleneck


def blocks(integration='inner'):
    """A sparse stride-2 bottleneck (32 -> 64 channels) with random BatchNorm statistics and
    masks of about 40 % density, the stock one with its weights, and a channels_last input."""
    gen = torch.Generator().manual_seed(0)
    shortcut = nn.Sequential(nn.Conv2d(32, 64, 1, stride=2, bias=False), nn.BatchNorm2d(64))
    sparse = SparseBottleneck(32, 16, stride=2, downsample=shortcut, integration=integration)
    for bn in (sparse.norm1, sparse.norm2, sparse.norm3, shortcut[1]):
        bn.running_mean.normal_(0, 0.5, generator=gen)
        bn.running_var.uniform_(0.5, 2, generator=gen)
        bn.weight.data.uniform_(0.5, 1.5, generator=gen)
    sparse.eval()
    dense = Bottleneck(32, 16, stride=2, downsample=shortcut).eval()
    dense.load_state_dict(sparse.state_dict(), strict=False)
    x = torch.randn(1, 32, 22, 20, generator=gen).contiguous(memory_format=torch.channels_last)
    sampling_stages.set_mask_density(sparse, x, 0.4, gen)
    return sparse, dense, x


def test_the_stages_in_order_give_the_blocks_output():
    sparse, _, x = blocks()
    with torch.no_grad():
        want = sparse(x)
        got = sampling_stages.SparseStages(sparse, x).run()
    assert 0.2 < float(sparse.masks(x)[1][-1].float().mean()) < 0.6
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_stages_refuse_other_integrations_and_batches():
    sparse, _, x = blocks('residual')
    with pytest.raises(ValueError, match='integration'):
        sampling_stages.SparseStages(sparse, x)
    sparse, _, x = blocks()
    with pytest.raises(ValueError, match='batch'):
        sampling_stages.SparseStages(sparse, torch.cat([x, x]))


def test_breakdown_covers_every_stage_and_the_bound_adds_up():
    sparse, dense, x = blocks()
    row = dict(dense_ms=2.0, sparse_ms=3.0, mac_share=0.5)
    with torch.no_grad():
        got = sampling_stages.breakdown(sparse, dense, x, x, row, 1, 0, time.process_time)
    assert list(got['sparse_ms']) == [*sampling_stages.SPARSE_STAGES, 'rest']
    assert list(got['dense_ms']) == list(sampling_stages.DENSE_STAGES)
    assert sum(got['sparse_ms'].values()) == pytest.approx(row['sparse_ms'])
    assert all(v > 0 for v in got['gmacs_per_s'].values())
    bound = got['bound']
    assert bound['fixed_ms'] + bound['scaling_ms'] == pytest.approx(row['sparse_ms'])
    assert bound['allowed_ms'] == pytest.approx(2.0 * 0.5 / sampling_stages.TARGET_EFFICIENCY)
    at_dense_rate = row['sparse_ms'] - bound['gemm_ms'] + bound['gemm_at_dense_rate_ms']
    assert bound['efficiency_at_dense_rate'] == pytest.approx(2.0 * 0.5 / at_dense_rate)
    assert bound['cut_ms'] == pytest.approx(at_dense_rate - bound['allowed_ms'])
