"""convert_to_kgs: the packed mmaction2 C3D and R(2+1)D equal their masked dense models."""
import copy

import pytest
import torch
from mmengine.registry import DefaultScope

from mmeff import convert_to_kgs
from mmeff.layers import KGSConv3d
from mmeff.layers.kernel_group_sparsity import masked_convs, prune_model

backbones = pytest.importorskip('mmaction.models.backbones', reason='mmaction2 is not installed')


def assert_packed_equals_masked(model, x, tolerance):
    model.eval()
    packed = convert_to_kgs(copy.deepcopy(model))
    names = [name for name, _ in masked_convs(model)]
    assert names and all(isinstance(packed.get_submodule(name), KGSConv3d) for name in names)
    with torch.no_grad():
        torch.testing.assert_close(packed(x), model(x), rtol=tolerance, atol=tolerance)


@pytest.mark.slow  # the real 16x112x112 clip
@pytest.mark.parametrize('scheme', ['kgs', 'vanilla', 'filter'])
def test_c3d(scheme):
    torch.manual_seed(0)
    model = backbones.C3D(out_dim=8192)  # float32: the 16x112x112 clip is slow in float64
    ratios = {f'conv{name}.conv': 0.5 for name in ('2a', '3a', '3b', '4a', '4b', '5a', '5b')}
    prune_model(model, scheme, {'conv1a.conv': 0.3, **ratios}, (8, 8), pad=True)
    assert_packed_equals_masked(model, torch.randn(1, 3, 16, 112, 112), 1e-4)


@pytest.mark.parametrize('scheme, group_size', [('kgs', (8, 8)), ('kgs', (4, 4)),
                                                ('vanilla', (4, 4))])
def test_r2plus1d(scheme, group_size):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmaction'):  # Conv2plus1d is mmaction's
        model = backbones.ResNet2Plus1d(depth=18, pretrained=None, pretrained2d=False,
                                        norm_eval=False, conv_cfg=dict(type='Conv2plus1d'),
                                        norm_cfg=dict(type='BN3d', requires_grad=True, eps=1e-3),
                                        conv1_kernel=(3, 7, 7), conv1_stride_t=1, pool1_stride_t=1,
                                        inflate=(1, 1, 1, 1), spatial_strides=(1, 2, 2, 2),
                                        temporal_strides=(1, 2, 2, 2), zero_init_residual=False)
    model.init_weights()
    model = model.double()
    masks = prune_model(model, scheme, 0.5, group_size, pad=True)
    assert any(name.endswith('conv_s')
               for name in masks) and any(name.endswith('conv_t') for name in masks)
    assert_packed_equals_masked(model, torch.randn(1, 3, 8, 32, 32, dtype=torch.float64), 1e-10)
