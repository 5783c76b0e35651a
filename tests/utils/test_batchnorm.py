"""BatchNorm folding: exact in float64, and the structures fold_batchnorms recognises."""
import pytest
import torch
from mmcv.cnn import ConvModule
from torch import nn

from mmeff.utils import batchnorm_scale_shift, fold_batchnorm, fold_batchnorms


def random_statistics(bn: nn.Module) -> nn.Module:
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        if bn.affine:
            bn.weight.uniform_(0.5, 2)
            bn.bias.uniform_(-1, 1)
    return bn.eval()


@pytest.mark.parametrize('affine,bias', [(True, True), (True, False), (False, False)])
def test_fold_batchnorm_float64(affine, bias):
    conv = nn.Conv2d(3, 5, 3, padding=1, bias=bias).double()
    bn = random_statistics(nn.BatchNorm2d(5, affine=affine).double())
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    want = bn(conv(x))
    scale, shift = batchnorm_scale_shift(bn)
    torch.testing.assert_close(want, conv(x) * scale.view(-1, 1, 1) + shift.view(-1, 1, 1))
    fold_batchnorm(conv, bn)
    torch.testing.assert_close(conv(x), want)


def test_fold_batchnorms_recognises_conv_modules_sequentials_and_3d_pairs():
    torch.manual_seed(0)
    model = nn.Sequential(
        ConvModule(3, 4, 3, padding=1, norm_cfg=dict(type='BN')),
        nn.Conv2d(4, 4, 1),
        nn.BatchNorm2d(4),
        nn.BatchNorm2d(4),  # follows a norm, not a conv: kept
        nn.Conv2d(4, 6, 1),
        nn.BatchNorm2d(6, track_running_stats=False))  # no statistics
    for bn in (model[0].bn, model[2], model[3]):
        random_statistics(bn)
    model.eval()
    x = torch.randn(2, 3, 8, 8)
    want = model(x)
    assert fold_batchnorms(model) == 2
    assert isinstance(model[0].bn, nn.Identity) and isinstance(model[2], nn.Identity)
    assert isinstance(model[3], nn.BatchNorm2d) and isinstance(model[5], nn.BatchNorm2d)
    torch.testing.assert_close(model(x), want, rtol=1e-5, atol=1e-5)
    model_3d = nn.Sequential(nn.Conv3d(2, 3, 1), random_statistics(nn.BatchNorm3d(3)))
    assert fold_batchnorms(model_3d) == 0 and fold_batchnorms(model_3d, include_3d=True) == 1


def test_training_batchnorm_is_not_folded():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    assert fold_batchnorms(model) == 0 and isinstance(model[1], nn.BatchNorm2d)
