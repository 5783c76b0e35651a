"""KGSConv3d: the packed conv equals the masked dense conv for every scheme."""
import pytest
import torch
from torch import nn

from mmeff.layers import KGSConv3d
from mmeff.layers.kernel_group_sparsity import prune_conv


@pytest.mark.parametrize('scheme, ratio, group_size', [('kgs', 0.5, (4, 4)), ('kgs', 0.0, (8, 8)),
                                                       ('vanilla', 0.6, (4, 4)),
                                                       ('filter', 0.5, (8, 8)),
                                                       ('kgs', 0.7, (3, 5))])
@pytest.mark.parametrize('bias', [True, False])
def test_packed_conv_equals_the_masked_conv(scheme, ratio, group_size, bias):
    torch.manual_seed(0)
    conv = nn.Conv3d(10, 14, (3, 3, 3), stride=(1, 2, 2), padding=1, bias=bias).double()
    prune_conv(conv, scheme, ratio, group_size, pad=True)
    x = torch.randn(2, 10, 5, 9, 9, dtype=torch.float64)
    packed = KGSConv3d.from_conv(conv)
    assert packed.values.shape[1] == group_size[0] or scheme == 'filter'
    if scheme == 'filter':
        assert packed.computed_filters() == 14 - round(0.5 * 14)
    with torch.no_grad():
        torch.testing.assert_close(packed(x), conv(x), rtol=1e-12, atol=1e-12)
    assert packed.columns.numel() <= conv.weight_mask.reshape(14, -1).sum()


def test_refuses_what_it_cannot_pack():
    with pytest.raises(TypeError, match='supports nn.Conv3d'):
        KGSConv3d.from_conv(nn.Conv2d(3, 3, 3))
    with pytest.raises(ValueError, match='explicit zero padding'):
        KGSConv3d.from_conv(nn.Conv3d(3, 3, 3, padding='same'))
