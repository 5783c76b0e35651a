"""FramewiseConv3d == nn.Conv3d with the same weights, for the kernels it accepts."""
import pytest
import torch
import torch.nn.functional as F

from mmeff.layers import FramewiseConv3d
from mmeff.registry import MODELS


@pytest.mark.parametrize('batch, bias, channels_last', [(2, True, False), (1, True, False),
                                                        (1, False, False), (2, False, True)])
@pytest.mark.parametrize('kernel, stride, padding, groups', [(1, 1, 0, 1), (1, 1, 0, 2),
                                                             ((1, 3, 3), (1, 2, 2), (0, 1, 1), 1),
                                                             ((1, 5, 5), 1, (0, 2, 2), 8),
                                                             ((1, 1, 1), (1, 2, 2), 0, 2)])
def test_equals_conv3d(kernel, stride, padding, groups, batch, bias, channels_last):
    torch.manual_seed(0)
    # float64: the weight gradient sums over N x T x H x W terms, in another order than conv3d's
    conv = FramewiseConv3d(8, 8, kernel, stride=stride, padding=padding, groups=groups,
                           bias=bias).double()
    x = torch.randn(batch, 8, 5, 9, 7, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    x.requires_grad_(True)
    out = conv(x)
    expected = F.conv3d(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation,
                        conv.groups)
    torch.testing.assert_close(out, expected)
    out.square().sum().backward()
    grads = (x.grad.clone(), conv.weight.grad.clone())
    x.grad, conv.weight.grad = None, None
    expected.square().sum().backward()
    torch.testing.assert_close(grads, (x.grad, conv.weight.grad))


@pytest.mark.parametrize('kernel, stride, padding', [((1, 3, 3), (1, 2, 2), (0, 1, 1)),
                                                     ((1, 5, 5), 1, (0, 2, 2))])
def test_single_depthwise_frame_equals_conv3d(kernel, stride, padding):
    """One frame of a depthwise kernel runs mmeff.ops.depthwise_conv2d (streaming)."""
    torch.manual_seed(0)
    conv = FramewiseConv3d(6, 6, kernel, stride=stride, padding=padding, groups=6)
    x = torch.randn(1, 6, 1, 11, 10)
    with torch.no_grad():
        torch.testing.assert_close(
            conv(x),
            F.conv3d(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation,
                     conv.groups))


def test_rejects_temporal_kernels_and_bad_input():
    with pytest.raises(ValueError, match='temporal kernel'):
        FramewiseConv3d(2, 2, 3)
    with pytest.raises(ValueError, match=r'\(N, C, T, H, W\)'):
        MODELS.build(dict(type='FramewiseConv3d', in_channels=2, out_channels=2,
                          kernel_size=1))(torch.randn(1, 2, 4, 4))
