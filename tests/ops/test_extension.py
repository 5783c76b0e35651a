"""The op wrappers' routing (mmeff.ops.extension): the device policy of docs/ops.md, the
fallback when the extension is missing, and the fake kernels' device check."""
import types

import pytest
import torch
import torch.nn.functional as F

from mmeff.ops import (depthwise_conv2d, extension, has_extension, pack_delta_conv2d_weight,
                       sparse_conv2d, stem_conv2d)
from mmeff.ops.extension import check_one_device, kernel_on, register_fake, select_kernel
from tests.helpers import requires_cuda

requires_extension = pytest.mark.skipif(not has_extension(),
                                        reason='the compiled extension is not built')

# The "CUDA" column of docs/ops.md's device-policy table: whether the op has a kernel there
# (its own or a composite one). The CUDA kernels exist only in a build with a CUDA toolkit.
CUDA_KERNELS = ('sparse_conv2d', 'commit_changed_windows', 'cond_conv2d', 'kgs_conv3d',
                'sparse_interp2d')
CUDA_COMPOSITES = ('skip_conv2d_frame', 'delta_conv2d_frame')
CPU_ONLY = ('depthwise_conv2d', 'movinet_block_frame', 'movinet_head_frame', 'stem_conv2d',
            'skip_conv2d_frame_logged', 'delta_conv2d_frame_logged')
OPS = CUDA_KERNELS + CUDA_COMPOSITES + CPU_ONLY


def on_cuda():
    """A stand-in for a CUDA tensor: select_kernel reads only its device."""
    return types.SimpleNamespace(device=torch.device('cuda'))


@requires_extension
@pytest.mark.parametrize('op_name', OPS)
def test_every_op_has_a_cpu_and_a_fake_kernel(op_name):
    assert kernel_on(op_name, 'cpu') is getattr(torch.ops.mmeff, op_name)
    assert kernel_on(op_name, 'meta') is getattr(torch.ops.mmeff, op_name)


@requires_extension
@pytest.mark.parametrize('op_name', CUDA_COMPOSITES)
def test_frame_ops_run_their_composite_on_cuda(op_name):
    assert kernel_on(op_name, 'cuda') is getattr(torch.ops.mmeff, op_name)


@requires_extension
@pytest.mark.parametrize('op_name', CPU_ONLY)
def test_cpu_only_ops_send_cuda_tensors_to_the_reference(op_name):
    assert kernel_on(op_name, 'cuda') is None
    assert select_kernel(op_name, on_cuda()) is None


@requires_extension
@pytest.mark.parametrize('op_name', CUDA_KERNELS)
def test_cuda_kernels_follow_the_build(op_name):
    built = torch._C._dispatch_has_kernel_for_dispatch_key(f'mmeff::{op_name}', 'CUDA')
    assert (select_kernel(op_name, on_cuda()) is not None) == built


@requires_extension
def test_select_kernel_follows_the_rule(monkeypatch):
    x = torch.zeros(1)
    weight = torch.zeros(1, requires_grad=True)
    op = torch.ops.mmeff.depthwise_conv2d
    assert select_kernel('depthwise_conv2d', x, (x, None)) is op
    assert select_kernel('depthwise_conv2d', x, (x, None), supported=False) is None
    assert select_kernel('depthwise_conv2d', x, (x, weight)) is None  # no backward
    with torch.no_grad():
        assert select_kernel('depthwise_conv2d', x, (x, weight)) is op
    messages = []
    monkeypatch.setattr(extension, 'print_log', lambda msg, **kwargs: messages.append(msg))
    monkeypatch.setattr(extension, 'has_extension', lambda: False)
    extension.warn_fallback.cache_clear()
    try:
        for _ in range(3):
            assert select_kernel('depthwise_conv2d', x, (x, None)) is None
        assert select_kernel('depthwise_conv2d', x, supported=False) is None
    finally:
        extension.warn_fallback.cache_clear()
    assert len(messages) == 1 and 'mmeff.ops.depthwise_conv2d' in messages[0]


def test_the_fallback_needs_no_extension(monkeypatch):
    """With the extension reported missing every wrapper runs its reference."""
    monkeypatch.setattr(extension, 'print_log', lambda msg, **kwargs: None)
    monkeypatch.setattr(extension, 'has_extension', lambda: False)
    extension.warn_fallback.cache_clear()
    try:
        x, weight = torch.randn(1, 3, 9, 9), torch.randn(3, 1, 3, 3)
        torch.testing.assert_close(depthwise_conv2d(x, weight, padding=1),
                                   F.conv2d(x, weight, None, 1, 1, 1, 3))
        full = torch.randn(2, 3, 3, 3)
        torch.testing.assert_close(stem_conv2d(x, full, activation='relu'),
                                   F.relu(F.conv2d(x, full)))
        mask = torch.zeros(1, 7, 7, dtype=torch.bool)
        mask[0, 2, 3] = True
        got = sparse_conv2d(x, full, mask=mask)
        torch.testing.assert_close(got, F.conv2d(x, full) * mask)
    finally:
        extension.warn_fallback.cache_clear()


@requires_extension
def test_meta_tensors_reach_the_fake_kernels():
    x = torch.empty(2, 4, 10, 12, device='meta')
    out = depthwise_conv2d(x, torch.empty(4, 1, 3, 3, device='meta'), stride=2, padding=1)
    assert out.device.type == 'meta' and out.shape == (2, 4, 5, 6)
    out = stem_conv2d(x, torch.empty(6, 4, 3, 3, device='meta'))
    assert out.device.type == 'meta' and out.shape == (2, 6, 8, 10)


@requires_extension
def test_fake_kernels_name_the_schema_arguments():
    x, weight = torch.randn(1, 4, 8, 8), torch.randn(4, 4, 3, 3)
    with pytest.raises(
            ValueError, match=r'delta_conv2d_frame: all tensors must be on one '
            r'device, got x on cpu, reference on cpu, output on cpu, weight on meta'):
        torch.ops.mmeff.delta_conv2d_frame(x, x.clone(), torch.zeros(1, 4, 8, 8), weight.to('meta'),
                                           pack_delta_conv2d_weight(weight, 1), 0.0, [1, 1], [1, 1],
                                           [1, 1], 1, 1.0)


def test_register_fake_checks_devices_by_name(monkeypatch):
    """The decorator wraps the fake with the device check; list items are named name[i]."""
    registered = {}
    schema = types.SimpleNamespace(
        arguments=[types.SimpleNamespace(name=n) for n in ('x', 'past', 'scale')])
    fake_op = types.SimpleNamespace(default=types.SimpleNamespace(_schema=schema))
    monkeypatch.setattr(extension, 'has_extension', lambda: True)
    monkeypatch.setattr(torch.ops, 'mmeff', types.SimpleNamespace(probe=fake_op), raising=False)
    monkeypatch.setattr(torch.library, 'register_fake',
                        lambda name: lambda fn: registered.setdefault(name, fn))

    @register_fake('probe')
    def probe(x, past, scale):
        return x

    checked = registered['mmeff::probe']
    cpu = torch.zeros(1)
    assert checked(cpu, [cpu, cpu], 2.0) is cpu
    with pytest.raises(ValueError, match=r'probe: .*past\[1\] on meta'):
        checked(cpu, [cpu, torch.zeros(1, device='meta')], 2.0)
    assert probe(cpu, [], 1.0) is cpu  # the plain function is returned unchanged


def test_check_one_device_skips_non_tensors():
    check_one_device('op', x=torch.zeros(1), bias=None, stride=[1, 1])


@requires_cuda
def test_cpu_only_ops_run_the_reference_on_cuda():
    x, weight = torch.randn(1, 3, 9, 9), torch.randn(3, 1, 3, 3)
    got = depthwise_conv2d(x.cuda(), weight.cuda(), padding=1)
    torch.testing.assert_close(got.cpu(), F.conv2d(x, weight, None, 1, 1, 1, 3))


@requires_cuda
@requires_extension
def test_mixed_cpu_and_cuda_tensors_are_refused():
    x, weight = torch.randn(1, 4, 8, 8), torch.randn(4, 4, 3, 3)
    mask = torch.ones(1, 8, 8, dtype=torch.bool)
    with pytest.raises(RuntimeError, match='sparse_conv2d: weight is on cpu but x is on cuda'):
        torch.ops.mmeff.sparse_conv2d(x.cuda(), weight, None, mask.cuda(),
                                      torch.zeros(1, 4, 8, 8, device='cuda'), [1, 1], [1, 1],
                                      [1, 1], 1)
