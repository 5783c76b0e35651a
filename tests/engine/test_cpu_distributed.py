"""The CPU compatibility step of mmengine's launcher (the 2-process run itself is in
tests/e2e/test_cpu_distributed.py)."""
import tempfile
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from mmengine.config import Config
from mmengine.dist import utils as dist_utils
from mmengine.runner import Runner

from mmeff.engine import enable_cpu_distributed
from mmeff.engine.cpu_distributed import (cpu_model_wrapper_cfg, init_dist_pytorch_without_gpu,
                                          without_sync_batchnorm)

requires_no_gpu = pytest.mark.skipif(torch.cuda.is_available(),
                                     reason='the step applies only where no GPU is visible')


@requires_no_gpu
def test_applied_on_import_and_once():
    assert dist_utils._init_dist_pytorch is init_dist_pytorch_without_gpu
    wrap_model = Runner.wrap_model
    assert enable_cpu_distributed()
    assert Runner.wrap_model is wrap_model  # not wrapped twice


def test_the_default_wrapper_gets_no_device_ids():
    runner = SimpleNamespace(cfg=dict(find_unused_parameters=True))
    assert cpu_model_wrapper_cfg(runner,
                                 None) == dict(type='MMDistributedDataParallel', device_ids=None,
                                               broadcast_buffers=False, find_unused_parameters=True)
    assert cpu_model_wrapper_cfg(runner, dict(type='MMDistributedDataParallel')) == dict(
        type='MMDistributedDataParallel', device_ids=None)
    # a config's own device ids and other wrappers are left as they are
    assert cpu_model_wrapper_cfg(runner, dict(device_ids=[0])) == dict(device_ids=[0])
    other = dict(type='MMFullyShardedDataParallel')
    assert cpu_model_wrapper_cfg(runner, other) == other


def test_a_gpu_only_init_backend_is_refused_by_name():
    with pytest.raises(ValueError, match="init_backend='deepspeed' needs a GPU"):
        init_dist_pytorch_without_gpu('gloo', init_backend='deepspeed')


def test_sync_batchnorm_runs_per_process_and_sync_bn_is_refused_by_name():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.SyncBatchNorm(4))
    weight = model[1].weight
    reverted = without_sync_batchnorm(SimpleNamespace(cfg=Config()), model)
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in reverted.modules())
    assert isinstance(reverted[1], torch.nn.modules.batchnorm._BatchNorm)
    assert reverted[1].weight is weight
    with pytest.raises(ValueError, match="sync_bn='torch' asks for SyncBatchNorm, which needs"):
        without_sync_batchnorm(SimpleNamespace(cfg=Config(dict(sync_bn='torch'))), model)


def sync_batchnorm_step_on_rank(rank: int, init_file: str, errors) -> None:
    torch_dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                                  world_size=2)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.SyncBatchNorm(4)).train()
    x = torch.rand(2, 3, 4, 4)
    try:
        model(x)
    except ValueError as error:
        errors[rank] = str(error)
    model = without_sync_batchnorm(SimpleNamespace(cfg=Config()), model)
    model(x).sum().backward()
    torch_dist.destroy_process_group()


@pytest.mark.slow
@requires_no_gpu
def test_sync_batchnorm_fails_on_cpu_processes_and_trains_once_reverted():
    """torch's SyncBatchNorm refuses CPU tensors under a gloo group; the reverted model trains."""
    with tempfile.TemporaryDirectory() as tmp:
        errors = mp.Manager().dict()
        mp.spawn(sync_batchnorm_step_on_rank, args=(f'{tmp}/init', errors), nprocs=2)
    assert sorted(errors) == [0, 1]
    assert 'SyncBatchNorm expected input tensor to be on GPU' in errors[0]
