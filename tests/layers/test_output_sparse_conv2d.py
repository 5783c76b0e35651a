"""OutputSparseConv2d: an nn.Conv2d drop-in whose forward takes an output mask."""
import pytest
import torch
import torch.nn.functional as F

from mmeff.layers import OutputSparseConv2d
from mmeff.registry import MODELS


def test_registered_and_dense_without_mask():
    conv = MODELS.build(
        dict(type='OutputSparseConv2d', in_channels=4, out_channels=6, kernel_size=3, padding=1,
             groups=2))
    assert isinstance(conv, OutputSparseConv2d) and isinstance(conv, torch.nn.Conv2d)
    x = torch.randn(2, 4, 9, 7)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight, conv.bias, 1, 1, 1, 2))


def test_masked_forward_writes_into_out():
    conv = OutputSparseConv2d(3, 5, 3, stride=2, padding=1).double()
    x = torch.randn(1, 3, 10, 12, dtype=torch.float64)
    dense = conv(x)
    mask = torch.rand(1, *dense.shape[2:]) < 0.3
    out = torch.zeros_like(dense)
    result = conv(x, mask, out)
    assert result is out
    torch.testing.assert_close(out, torch.where(mask.unsqueeze(1), dense, torch.zeros_like(dense)))


@pytest.mark.parametrize('kwargs,msg', [(dict(padding_mode='reflect'), 'padding_mode'),
                                        (dict(padding='same'), 'explicit integer padding')])
def test_unsupported_arguments_are_rejected(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        OutputSparseConv2d(3, 3, 3, **kwargs)
