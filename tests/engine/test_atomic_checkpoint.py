"""Atomic checkpoint writes: the write itself, its registration on import, and a process killed
inside a save (tests/engine/probes/killed_save.py) that leaves the previous checkpoint and the
``last_checkpoint`` pointer whole."""
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.hooks import checkpoint_hook
from mmengine.runner import find_latest_checkpoint

import mmeff  # noqa: F401  (applies the atomic writes)
from mmeff.engine import atomic_checkpoint
from mmeff.engine.atomic_checkpoint import (AtomicLocalBackend, AtomicTextFile, atomic_write,
                                            checkpoint_hook_open, enable_atomic_checkpoints)

REPO = Path(__file__).resolve().parents[2]


def test_atomic_write_replaces_the_whole_file_with_the_usual_mode(tmp_path):
    target = tmp_path / 'new_dir' / 'a.pth'
    atomic_write(b'old', target)
    atomic_write(b'new content', target)
    assert target.read_bytes() == b'new content'
    assert stat.S_IMODE(target.stat().st_mode) == atomic_checkpoint.new_file_mode()
    assert os.listdir(target.parent) == ['a.pth']  # no temp file left


def test_a_failed_write_keeps_the_old_file_and_removes_its_temp_file(tmp_path, monkeypatch):
    target = tmp_path / 'a.pth'
    target.write_bytes(b'old')

    def failing_replace(src, dst):
        raise OSError('disk full')

    monkeypatch.setattr(atomic_checkpoint.os, 'replace', failing_replace)
    with pytest.raises(OSError, match='disk full'):
        atomic_write(b'new', target)
    assert target.read_bytes() == b'old' and os.listdir(tmp_path) == ['a.pth']


def test_applied_on_import_for_checkpoints_and_the_pointer(tmp_path):
    assert enable_atomic_checkpoints()  # idempotent
    assert type(get_file_backend(str(tmp_path / 'x.pth'))) is AtomicLocalBackend
    assert checkpoint_hook.open is checkpoint_hook_open
    pointer = tmp_path / 'last_checkpoint'
    with checkpoint_hook_open(pointer, 'w') as f:
        assert isinstance(f, AtomicTextFile)
        f.write('work/iter_2.pth')
        assert not pointer.exists()  # nothing reaches the target before close
    assert pointer.read_text() == 'work/iter_2.pth'
    with checkpoint_hook_open(pointer) as f:  # reads: the builtin open
        assert f.read() == 'work/iter_2.pth'


def test_another_registered_local_backend_is_left_alone(monkeypatch):
    from mmengine.fileio.backends import backends

    class OtherBackend(AtomicLocalBackend.__base__):
        pass

    monkeypatch.setitem(backends, 'local', OtherBackend)
    assert not enable_atomic_checkpoints()
    assert backends['local'] is OtherBackend


def kill_in_second_save(work_dir: Path, how: str, *stock: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, '-m', 'tests.engine.probes.killed_save',
         str(work_dir), how, *stock], cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1'))


@pytest.mark.parametrize('how, signal_number', [('mid-write', signal.SIGXFSZ),
                                                ('before-rename', signal.SIGKILL)])
def test_a_kill_inside_a_save_leaves_the_previous_checkpoint_for_resume(
        tmp_path, how, signal_number):
    done = kill_in_second_save(tmp_path, how)
    assert done.returncode == -signal_number, done.stderr[-3000:]
    latest = find_latest_checkpoint(str(tmp_path))  # what --resume loads
    assert latest == str(tmp_path / 'iter_1.pth')
    assert torch.load(latest)['meta']['iter'] == 1
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_1.pth']


def test_the_probe_leaves_a_half_file_with_mmengines_in_place_write(tmp_path):
    """The control: without mmeff the same kill leaves ``iter_2.pth`` half written."""
    done = kill_in_second_save(tmp_path, 'mid-write', 'stock')
    assert done.returncode == -signal.SIGXFSZ, done.stderr[-3000:]
    half = tmp_path / 'iter_2.pth'
    assert 0 < half.stat().st_size < (tmp_path / 'iter_1.pth').stat().st_size
    with pytest.raises(RuntimeError):
        torch.load(half)
