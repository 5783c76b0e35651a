"""mmengine checkpoints load under torch's weights_only default once mmeff is imported."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner

import mmeff  # noqa: F401  (allow-lists the checkpoint classes)
from mmeff.engine import mmengine_checkpoint_globals


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, labels, mode='tensor'):
        pred = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((pred.squeeze(1) - labels)**2).mean())
        return pred


class ToyDataset(torch.utils.data.Dataset):
    metainfo = dict()

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i), 1.0]), labels=torch.tensor(float(i)))


def make_runner(work_dir, **kw):
    return Runner(
        model=ToyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler',
                                                                 shuffle=False), batch_size=4,
                              num_workers=0, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)), **kw)


def test_mmengine_checkpoint_resumes_with_safe_loading(tmp_path):
    runner = make_runner(tmp_path / 'a')
    runner.train()
    ckpt = tmp_path / 'a' / 'epoch_1.pth'
    assert ckpt.exists()
    # What torch.load does by default (weights_only=True) now accepts the checkpoint ...
    state = torch.load(ckpt)
    assert 'message_hub' in state and 'state_dict' in state
    # ... and mmengine's own resume path works.
    resumed = make_runner(tmp_path / 'b', load_from=str(ckpt), resume=True)
    resumed.load_or_resume()
    assert resumed.epoch == 1
    torch.testing.assert_close(resumed.model.linear.weight, runner.model.linear.weight)


def test_safe_loading_still_rejects_unlisted_classes(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'payload': pickle.PicklingError('not allow-listed')}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


class Payload:

    def __reduce__(self):
        # getattr on an allow-listed class, reaching an attribute that is not a statistic.
        return (getattr, (np.ndarray, 'tofile'))


def test_getattr_is_restricted_to_history_buffer_methods(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'payload': Payload()}, path)
    with pytest.raises(pickle.UnpicklingError, match='not allow-listed'):
        torch.load(path)


def test_allow_list_is_explicit():
    names = {getattr(g, '__name__', str(g)) for g in mmengine_checkpoint_globals()}
    assert 'HistoryBuffer' in names and 'ndarray' in names


def test_checkpoint_loads_before_any_history_buffer_exists(tmp_path, monkeypatch):
    """A fresh process (tools/test.py) has an empty ``_statistics_methods`` when it loads."""
    from mmengine.logging.history_buffer import HistoryBuffer
    runner = make_runner(tmp_path / 'a')
    runner.train()
    monkeypatch.setattr(HistoryBuffer, '_statistics_methods', dict())
    state = torch.load(tmp_path / 'a' / 'epoch_1.pth')
    assert 'message_hub' in state


def test_builtin_statistics_resolve_before_any_history_buffer_exists(monkeypatch):
    """A fresh process that only loads (tools/test.py) has an empty _statistics_methods."""
    from mmengine.logging.history_buffer import HistoryBuffer

    from mmeff.engine.checkpoint import history_buffer_getattr
    monkeypatch.setattr(HistoryBuffer, '_statistics_methods', {})
    for name in ('min', 'max', 'current', 'mean'):
        assert history_buffer_getattr(HistoryBuffer, name) is getattr(HistoryBuffer, name)
    with pytest.raises(pickle.UnpicklingError, match='not allow-listed'):
        history_buffer_getattr(HistoryBuffer, '__init__')
