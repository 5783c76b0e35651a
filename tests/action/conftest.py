"""Shared fixtures of the mmaction2 tests: one intra-op thread (the CI cores are shared and
two-thread OpenMP barriers stall under load), mmaction2's registry scope."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module', autouse=True)
def mmaction_scope():
    pytest.importorskip('mmaction.models', reason='mmaction2 is not installed')
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
