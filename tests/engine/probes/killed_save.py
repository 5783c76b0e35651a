"""A toy mmengine training that saves a checkpoint every iteration and dies inside its second
save (tests/engine/test_atomic_checkpoint.py).

``python -m tests.engine.probes.killed_save WORK_DIR HOW [stock]``; HOW is ``mid-write``
(a file-size limit of half the first checkpoint: the kernel ends the process with SIGXFSZ in
the middle of the write) or ``before-rename`` (SIGKILL at the fsync of the written data, before
they replace the target). ``stock`` runs without mmeff: mmengine's own in-place writes.
"""
import os
import resource
import signal
import sys

import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner

work_dir, how = sys.argv[1:3]
if sys.argv[3:] != ['stock']:
    import mmeff  # noqa: F401  (atomic checkpoint writes)


class WideModel(BaseModel):
    """A linear regression with 1 MiB of weights, so that a checkpoint takes several writes."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2**16, 4)

    def forward(self, inputs, mode='tensor'):
        out = self.linear(inputs)
        return dict(loss=out.square().mean()) if mode == 'loss' else out


class DieInSecondSave(Hook):
    """Arms the kill in ``before_save_checkpoint`` of the second save."""

    def __init__(self):
        self.saves = 0

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self.saves += 1
        if self.saves < 2:
            return
        if how == 'mid-write':
            size = os.path.getsize(os.path.join(work_dir, 'iter_1.pth'))
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it by default
            resource.setrlimit(resource.RLIMIT_FSIZE, (size // 2, resource.RLIM_INFINITY))
        else:
            os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)


Runner(
    model=WideModel(), work_dir=work_dir,
    train_dataloader=dict(dataset=[dict(inputs=torch.ones(2**16))] * 4,
                          sampler=dict(type='DefaultSampler', shuffle=False), batch_size=1,
                          num_workers=0, collate_fn=dict(type='default_collate')),
    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
    train_cfg=dict(by_epoch=False, max_iters=3),
    default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False)),
    custom_hooks=[DieInSecondSave()]).train()
