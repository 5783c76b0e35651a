"""Tensors on different devices get a clear error from every op, never uninitialised memory:
the wrappers check the devices before they pick the kernel or the reference, and a meta tensor
among CPU tensors given to ``torch.ops.mmeff`` directly reaches the fake kernel, which checks
them too."""
import pytest
import torch

from mmeff.ops import (depthwise_conv2d, has_extension, movinet_head_frame,
                       pack_delta_conv2d_weight, stem_conv2d)
from mmeff.ops.extension import check_one_device

META = dict(device='meta')


def test_check_one_device_names_the_tensors():
    check_one_device('op', x=torch.zeros(1), weight=torch.zeros(1), bias=None)
    with pytest.raises(
            ValueError, match='op: all tensors must be on one device, got x on cpu, '
            'weight on meta'):
        check_one_device('op', x=torch.zeros(1), weight=torch.zeros(1, **META))


@pytest.mark.parametrize('call', [
    lambda x: depthwise_conv2d(x, torch.randn(3, 1, 3, 3, **META), padding=1),
    lambda x: stem_conv2d(x, torch.randn(4, 3, 3, 3, **META), padding=1),
    lambda x: movinet_head_frame(x, None, 0, torch.randn(8, 3), None, 'relu',
                                 torch.randn(5, 8, **META), None),
], ids=['depthwise_conv2d', 'stem_conv2d', 'movinet_head_frame'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16])
def test_wrappers_refuse_a_meta_weight_with_a_cpu_input(call, dtype):
    """For the kernels' dtype and for one only the reference takes, with or without the
    extension."""
    with pytest.raises(ValueError, match='all tensors must be on one device, got cpu and meta'):
        with torch.no_grad():
            call(torch.randn(1, 3, 8, 8, dtype=dtype))


@pytest.mark.skipif(not has_extension(), reason='the compiled extension is not built')
def test_raw_frame_ops_refuse_mixed_devices_instead_of_a_garbage_count():
    x = torch.randn(1, 4, 8, 8)
    weight = torch.randn(4, 4, 3, 3)
    with pytest.raises(ValueError, match='weight on meta'):
        torch.ops.mmeff.delta_conv2d_frame(x, x.clone(), torch.zeros(1, 4, 8, 8), weight.to('meta'),
                                           pack_delta_conv2d_weight(weight, 1), 0.0, [1, 1], [1, 1],
                                           [1, 1], 1, 1.0)
    with pytest.raises(ValueError, match='mask on meta'):
        torch.ops.mmeff.sparse_conv2d(x, weight, None, torch.ones(1, 8, 8,
                                                                  dtype=torch.bool, **META),
                                      torch.zeros(1, 4, 8, 8), [1, 1], [1, 1], [1, 1], 1)
