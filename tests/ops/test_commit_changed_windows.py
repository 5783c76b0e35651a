"""commit_changed_windows: compiled kernels against the pure-PyTorch reference."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmeff.ops import (block_input_windows, commit_changed_windows,
                       commit_changed_windows_reference, extension, has_extension)
from mmeff.ops.errors import NonFiniteError
from tests.helpers import requires_cuda


def kernel(x, snapshots, limit, block, kernel_size, stride, padding, dilation, commit_all_above):
    return torch.ops.mmeff.commit_changed_windows(x, snapshots, limit, block, kernel_size, stride,
                                                  padding, dilation, commit_all_above)


def make_case(seed, n, c, h, w, block, kernel_size, stride, padding, dilation, dtype,
              changed_share=0.3, channels_last=False):
    """A previous frame's snapshots and a current frame that differs in some pixels.

    Integer values keep every L1 sum exact in any summation order, so the kernel and the
    reference must agree bit for bit on which blocks fire.
    """
    g = torch.Generator().manual_seed(seed)
    previous = torch.randint(-3, 4, (n, c, h, w), generator=g).to(dtype)
    change = torch.randint(-2, 3, (n, c, h, w), generator=g).to(dtype)
    change *= torch.rand(n, 1, h, w, generator=g) < changed_share
    current = previous + change
    if channels_last:
        current = current.to(memory_format=torch.channels_last)
    geometry = (block, kernel_size, stride, padding, dilation)
    snapshots = block_input_windows(previous, *geometry).contiguous()
    return current, snapshots, geometry


def run_both(current, snapshots, limit, geometry, commit_all_above=1.0):
    block, kernel_size, stride, padding, dilation = geometry
    ours, ref = snapshots.clone(), snapshots.clone()
    mask = kernel(current, ours, float(limit), block, list(kernel_size), list(stride),
                  list(padding), list(dilation), commit_all_above)
    expected = commit_changed_windows_reference(current, ref, limit, block_size=block,
                                                kernel_size=kernel_size, stride=stride,
                                                padding=padding, dilation=dilation,
                                                commit_all_above=commit_all_above)
    return mask, ours, expected, ref


pytestmark = pytest.mark.skipif(not has_extension(), reason='the compiled extension is not built')


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 2), c=st.integers(1, 5), h=st.integers(3, 21),
       w=st.integers(3, 21), block=st.sampled_from([1, 2, 4, 8]), k=st.sampled_from([(1, 1), (3, 3),
                                                                                     (1, 3),
                                                                                     (5, 5)]),
       stride=st.sampled_from([(1, 1), (2, 2),
                               (1, 2)]), pad=st.integers(0, 4), dilation=st.sampled_from([(1, 1),
                                                                                          (2, 2)]),
       dtype=st.sampled_from([torch.float32, torch.float64]), channels_last=st.booleans(),
       limit=st.sampled_from([0, 1, 5, 20, 60]), share=st.sampled_from([0.0, 0.05, 0.3, 1.0]))
def test_matches_reference(seed, n, c, h, w, block, k, stride, pad, dilation, dtype, channels_last,
                           limit, share):
    span = [(k[i] - 1) * dilation[i] + 1 for i in range(2)]
    if h + 2 * pad < span[0] or w + 2 * pad < span[1]:
        return
    current, snapshots, geometry = make_case(seed, n, c, h, w, block, k, stride, (pad, pad),
                                             dilation, dtype, share, channels_last)
    mask, ours, expected, ref = run_both(current, snapshots, limit, geometry)
    assert torch.equal(mask, expected)
    assert torch.equal(ours, ref)


@pytest.mark.parametrize('commit_all_above', [0.25, 0.5, 1.0])
def test_commit_all_above_fires_every_block(commit_all_above):
    current, snapshots, geometry = make_case(3, 1, 4, 32, 32, 8, (3, 3), (1, 1), (1, 1), (1, 1),
                                             torch.float32, changed_share=0.002)
    mask, ours, expected, ref = run_both(current, snapshots, 0, geometry, commit_all_above)
    assert torch.equal(mask, expected) and torch.equal(ours, ref)
    windows = block_input_windows(current, *geometry)
    fired_share = mask[:, ::8, ::8].float().mean().item()
    assert 0 < fired_share
    if fired_share == 1.0:
        assert torch.equal(ours, windows)


def test_threshold_zero_fires_exactly_the_blocks_that_see_a_change():
    x = torch.randn(1, 3, 24, 24)
    geometry = dict(block_size=4, kernel_size=3, stride=1, padding=1, dilation=1)
    snapshots = block_input_windows(x, 4, 3, 1, 1, 1).contiguous()
    assert not commit_changed_windows(x, snapshots, 0.0, **geometry).any()
    y = x.clone()
    y[0, 1, 9, 14] += 1e-6  # inside output block (2, 3), and in the halo of (2, 3)'s neighbours
    mask = commit_changed_windows(y, snapshots, 0.0, **geometry)
    fired = mask[0, ::4, ::4].nonzero().tolist()
    assert fired == [[2, 3]]  # pixel 9 is row 1 of block 2 and column 2 of block 3: no halo reach
    y[0, 0, 8, 12] += 1.0  # first row/col of block (2, 3): in the halo of blocks (1, *) and (*, 2)
    mask = commit_changed_windows(y, snapshots, 0.0, **geometry)
    assert sorted(mask[0, ::4, ::4].nonzero().tolist()) == [[1, 2], [1, 3], [2, 2], [2, 3]]
    assert not commit_changed_windows(y, snapshots, 0.0, **geometry).any()  # committed


@pytest.mark.parametrize('bad, message', [
    (dict(snapshots_shape=(1, 2, 2, 3, 10, 10)), 'snapshots must have shape'),
    (dict(snapshots_dtype=torch.float64), 'snapshots dtype'),
    (dict(stride=(0, 1)), 'stride must be >= 1'),
    (dict(x_shape=(3, 16, 16)), 'x must be 4-D'),
])
def test_bad_arguments_are_named(bad, message):
    x = torch.randn(*bad.get('x_shape', (1, 3, 16, 16)))
    shape = bad.get('snapshots_shape', (1, 2, 2, 3, 10, 10))
    if 'snapshots_shape' in bad:
        shape = (1, 3, 3, 3, 10, 10)
    snapshots = torch.zeros(shape, dtype=bad.get('snapshots_dtype', torch.float32))
    with pytest.raises(RuntimeError, match=message):
        kernel(x, snapshots, bad.get('limit', 0.0), 8, [3, 3], list(bad.get('stride', (1, 1))),
               [1, 1], [1, 1], bad.get('commit_all_above', 1.0))


@pytest.mark.parametrize('bad, message', [
    (dict(limit=-1.0), r'limit must be >= 0, got -1.0'),
    (dict(limit=float('nan')), 'limit must be >= 0'),
    (dict(commit_all_above=0.0), r'commit_all_above must be in \(0, 1\], got 0.0'),
])
def test_the_wrapper_checks_the_scalars(bad, message):
    x = torch.randn(1, 3, 16, 16)
    snapshots = torch.zeros(1, 2, 2, 3, 10, 10)
    with pytest.raises(ValueError, match=message):
        commit_changed_windows(x, snapshots, bad.get('limit', 0.0), block_size=8, kernel_size=3,
                               padding=1, commit_all_above=bad.get('commit_all_above', 1.0))
    assert not snapshots.any()


def test_non_contiguous_snapshots_are_rejected():
    x = torch.randn(1, 3, 16, 16)
    snapshots = torch.zeros(1, 2, 2, 10, 10, 3).permute(0, 1, 2, 5, 3, 4)
    with pytest.raises(RuntimeError, match='snapshots must be contiguous'):
        kernel(x, snapshots, 0.0, 8, [3, 3], [1, 1], [1, 1], [1, 1], 1.0)


@requires_cuda
@pytest.mark.parametrize('block', [1, 4, 8])
def test_cuda_matches_cpu(block):
    current, snapshots, geometry = make_case(5, 2, 6, 33, 27, block, (3, 3), (2, 2), (1, 1), (1, 1),
                                             torch.float32, changed_share=0.1)
    mask, ours, _, _ = run_both(current, snapshots, 4, geometry)
    cuda_snapshots = snapshots.cuda()
    block, kernel_size, stride, padding, dilation = geometry
    cuda_mask = kernel(current.cuda(), cuda_snapshots, 4.0, block, list(kernel_size), list(stride),
                       list(padding), list(dilation), 1.0)
    assert torch.equal(cuda_mask.cpu(), mask)
    assert torch.equal(cuda_snapshots.cpu(), ours)


def test_fallback_without_extension_matches_the_kernel(monkeypatch):
    monkeypatch.setattr(extension, 'has_extension', lambda: False)
    monkeypatch.setattr(extension, 'print_log', lambda msg, **kwargs: None)
    current, snapshots, geometry = make_case(11, 1, 4, 20, 20, 4, (3, 3), (1, 1), (1, 1), (1, 1),
                                             torch.float64, changed_share=0.05)
    mask, ours, _, _ = run_both(current, snapshots, 3, geometry)
    block, kernel_size, stride, padding, dilation = geometry
    fallback = snapshots.clone()
    fallback_mask = commit_changed_windows(current, fallback, 3, block_size=block,
                                           kernel_size=kernel_size, stride=stride, padding=padding,
                                           dilation=dilation)
    assert torch.equal(fallback_mask, mask) and torch.equal(fallback, ours)


@pytest.mark.parametrize('bad_value', [float('nan'), float('inf')])
@pytest.mark.parametrize('where', [(0, 0, 0, 0), (0, 2, 15, 15)])
def test_non_finite_input_is_rejected_and_snapshots_are_kept(bad_value, where):
    current, snapshots, geometry = make_case(2, 1, 3, 16, 16, 8, (3, 3), (1, 1), (1, 1), (1, 1),
                                             torch.float32, changed_share=0.5)
    current[where] = bad_value
    block, kernel_size, stride, padding, dilation = geometry
    for run in (kernel, commit_changed_windows_reference):
        before = snapshots.clone()  # the raw op raises ValueError, the Python ones NonFiniteError
        with pytest.raises(ValueError if run is kernel else NonFiniteError, match='NaN or Inf'):
            if run is kernel:
                run(current, snapshots, 0.0, block, list(kernel_size), list(stride), list(padding),
                    list(dilation), 1.0)
            else:
                run(current, snapshots, 0.0, block_size=block, kernel_size=kernel_size,
                    stride=stride, padding=padding, dilation=dilation)
        assert torch.equal(snapshots, before)


@pytest.mark.parametrize('op', ['commit', 'frame'])
def test_a_zero_height_input_with_padding_matches_the_reference_without_crashing(op):
    """A plane of size 0 once made the finiteness check divide by zero (SIGFPE): run in a
    subprocess, so a crash fails this test instead of ending pytest."""
    import subprocess
    import sys
    from pathlib import Path
    probe = Path(__file__).parent / 'probes' / 'zero_height_frame.py'
    done = subprocess.run([sys.executable, str(probe), op], capture_output=True, text=True,
                          cwd=Path(__file__).parents[2], timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == 'ok', (done.returncode,
                                                                  done.stderr[-2000:])


def test_snapshots_sharing_memory_with_the_input_are_refused():
    snapshots = block_input_windows(torch.randn(1, 2, 8, 8), 4, 3, 1, 1, 1).contiguous()
    x = snapshots.view(-1)[:2 * 8 * 8].view(1, 2, 8, 8)  # the input is part of the state
    before = snapshots.clone()
    with pytest.raises(RuntimeError, match='snapshots shares memory with x'):
        commit_changed_windows(x, snapshots, 0.0, block_size=4, kernel_size=3, stride=1, padding=1,
                               dilation=1)
    assert torch.equal(snapshots, before)
