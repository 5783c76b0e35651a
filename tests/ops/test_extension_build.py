"""The compiled library holds the kernels the build promised."""
import importlib.util
import os
from pathlib import Path

import pytest
import torch

import mmeff.ops._ext  # noqa: F401  (registers torch.ops.mmeff)

REPO = Path(__file__).resolve().parents[2]


def load_setup_module():
    spec = importlib.util.spec_from_file_location('mmeff_setup', REPO / 'setup.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines the helpers; setup() runs only as __main__
    return module


def test_cpu_kernel_is_registered():
    assert torch._C._dispatch_has_kernel_for_dispatch_key('mmeff::sparse_conv2d', 'CPU')


def test_cuda_kernels_are_built_when_a_toolkit_is_present():
    """CI has nvcc but no GPU: this is what proves the CUDA kernels compiled and linked."""
    if os.environ.get('FORCE_CUDA') == '0':
        pytest.skip(reason='FORCE_CUDA=0: a CPU-only build was asked for')
    cuda_home = load_setup_module().find_cuda_home()
    if cuda_home is None:
        pytest.skip(reason='no CUDA toolkit (bin/nvcc and lib64/libcudart.so) on this machine')
    for op in ('sparse_conv2d', 'commit_changed_windows', 'cond_conv2d', 'kgs_conv3d'):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f'mmeff::{op}', 'CUDA'), (
            f'a CUDA toolkit is at {cuda_home} but mmeff.ops._ext has no CUDA kernel of {op}: '
            'rebuild with `pip install --no-build-isolation -e .`')
