"""Multi-process runs without a GPU, under mmengine's own launcher and the gloo backend.

mmengine 0.10.7 assumes a GPU in two places of ``tools/train.py ... --launcher pytorch``:

- ``mmengine.dist.utils._init_dist_pytorch`` calls ``torch.cuda.set_device(LOCAL_RANK)``
  before ``init_process_group``, which raises "Found no NVIDIA driver on your system";
- ``Runner.wrap_model`` wraps the model in ``MMDistributedDataParallel`` with
  ``device_ids=[LOCAL_RANK]``, which ``DistributedDataParallel`` refuses for a CPU module.

torch's ``SyncBatchNorm`` refuses CPU tensors in training ("SyncBatchNorm expected input tensor
to be on GPU ..."), so SyncBN layers (a stock config's ``norm_cfg=dict(type='SyncBN')``) become
per-process BatchNorm, logged, as mmengine itself does in a single process; ``cfg.sync_bn``,
which asks the Runner to convert every BatchNorm to SyncBN, is refused with a ``ValueError``.

:func:`enable_cpu_distributed` answers both, and only where no GPU is visible: the process
group starts without ``set_device`` (with gloo in place of a GPU-only backend such as the
stock configs' nccl, logged), and the DDP wrapper gets ``device_ids=None``. mmeff applies it on
import, so ``custom_imports = dict(imports=['mmeff'])`` is all a config needs. The launcher,
the Runner and the wrappers stay mmengine's own.
"""
import functools
import os
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.dist import utils as dist_utils
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper, revert_sync_batchnorm
from mmengine.runner import Runner
from torch import nn

#: Backends that run on CPU tensors.
CPU_BACKENDS = ('gloo', 'mpi')
_APPLIED = '_mmeff_cpu_distributed'


def init_dist_pytorch_without_gpu(backend: str, init_backend: str = 'torch', **kwargs) -> None:
    """``_init_dist_pytorch`` for a machine without a GPU: no ``set_device``, and gloo in
    place of a backend that needs a GPU."""
    if init_backend != 'torch':
        raise ValueError(f'init_backend={init_backend!r} needs a GPU and none is visible; only '
                         "'torch' starts a CPU process group")
    if backend not in CPU_BACKENDS:
        print_log(f"dist_cfg.backend='{backend}' needs a GPU and none is visible: using 'gloo'",
                  logger='current')
        backend = 'gloo'
    torch_dist.init_process_group(backend=backend, rank=int(os.environ['RANK']),
                                  world_size=int(os.environ['WORLD_SIZE']), **kwargs)


def cpu_model_wrapper_cfg(runner: Runner, model_wrapper_cfg: Optional[dict]) -> Optional[dict]:
    """The wrapper config ``Runner.wrap_model`` gets on a machine without a GPU: mmengine's
    default DDP wrapper with ``device_ids=None`` (a CPU module), unless the config names its
    own device ids or another wrapper."""
    if model_wrapper_cfg is None:
        return dict(type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
                    find_unused_parameters=runner.cfg.get('find_unused_parameters', False))
    if model_wrapper_cfg.get('type', 'MMDistributedDataParallel') == 'MMDistributedDataParallel':
        model_wrapper_cfg.setdefault('device_ids', None)
    return model_wrapper_cfg


def without_sync_batchnorm(runner: Runner, model: nn.Module) -> nn.Module:
    """``model`` with its SyncBatchNorm layers as per-process BatchNorm (logged); a
    ``cfg.sync_bn`` is refused, since SyncBatchNorm needs a GPU."""
    if runner.cfg.get('sync_bn') is not None:
        raise ValueError(f"sync_bn={runner.cfg.sync_bn!r} asks for SyncBatchNorm, which needs a "
                         'GPU and none is visible: remove sync_bn to train with per-process '
                         'BatchNorm')
    if any(isinstance(m, nn.SyncBatchNorm) for m in model.modules()):
        print_log(
            'SyncBatchNorm needs a GPU and none is visible: its layers run as per-process '
            'BatchNorm', logger='current')
        model = revert_sync_batchnorm(model)
    return model


def enable_cpu_distributed() -> bool:
    """Apply both steps if no GPU is visible (once per process); return whether they are on."""
    if torch.cuda.is_available():
        return False
    if not getattr(Runner.wrap_model, _APPLIED, False):
        wrap_model = Runner.wrap_model

        @functools.wraps(wrap_model)
        def wrap_model_on_cpu(self, model_wrapper_cfg, model):
            if self.distributed:
                model_wrapper_cfg = cpu_model_wrapper_cfg(self, model_wrapper_cfg)
                if not is_model_wrapper(model):
                    model = without_sync_batchnorm(self, model)
            return wrap_model(self, model_wrapper_cfg, model)

        setattr(wrap_model_on_cpu, _APPLIED, True)
        Runner.wrap_model = wrap_model_on_cpu
        dist_utils._init_dist_pytorch = init_dist_pytorch_without_gpu
    return True
