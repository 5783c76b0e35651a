"""Checkpoints that a process killed during the save cannot leave half written.

mmengine 0.10.7 writes both files of a checkpoint save in place:

- ``mmengine.runner.checkpoint.save_checkpoint`` serialises the checkpoint into memory and
  hands the bytes to the file backend's ``put``; ``LocalBackend.put`` opens the final path
  with ``'wb'`` and writes there;
- ``CheckpointHook._save_checkpoint_with_step`` then writes the ``last_checkpoint`` pointer
  (the file ``--resume`` reads, through ``find_latest_checkpoint``) with ``open(path, 'w')``.

A process killed during either write leaves a truncated file under the final name: a
checkpoint that does not load, or an empty pointer that makes ``--resume`` fail.

:func:`enable_atomic_checkpoints` (applied on ``import mmeff``) makes both writes atomic, each
through a temp file in the same directory, ``fsync`` and ``os.replace``:

- :class:`AtomicLocalBackend` replaces mmengine's ``LocalBackend`` as the registered ``'local'``
  file backend (``mmengine.fileio.register_backend``), so every local ``put`` (checkpoints,
  pickled dumps) is atomic;
- the name ``open`` in ``mmengine.hooks.checkpoint_hook`` (used there only for the pointer)
  resolves to :func:`checkpoint_hook_open`, which writes text files atomically and opens
  everything else with the builtin ``open``.

The hook still writes the pointer after the checkpoint, so the pointer names a complete file
at every moment. A kill leaves at most a hidden ``.<name>.*.part`` temp file next to the
target, which neither ``--resume`` nor ``load_from`` ever reads.
"""
import builtins
import contextlib
import functools
import io
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Union

from mmengine.fileio import LocalBackend, register_backend
from mmengine.fileio.backends import backends
from mmengine.hooks import checkpoint_hook

PathLike = Union[str, Path]
#: Suffix of the temp files; their names start with ``.<target name>.``.
TEMP_SUFFIX = '.part'


@functools.lru_cache(maxsize=1)
def new_file_mode() -> int:
    """The mode ``open(path, 'w')`` gives a new file under this process's umask (read once:
    ``os.umask`` can only be read by setting it)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(data: bytes, path: PathLike) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either its old content or all of
    ``data``, whenever the process dies: temp file in the same directory, ``fsync``,
    ``os.replace``, then ``fsync`` of the directory. Creates the directory if needed."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f'.{os.path.basename(path)}.',
                                suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, 'wb') as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, new_file_mode())  # mkstemp creates 0o600
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp)
        raise
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)  # the rename itself survives a power loss
    finally:
        os.close(directory_fd)


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` whose ``put`` (the write of ``save_checkpoint``) is
    :func:`atomic_write`."""

    def put(self, obj: bytes, filepath: PathLike) -> None:
        atomic_write(obj, filepath)


class AtomicTextFile(io.StringIO):
    """A text file opened for writing whose content reaches ``path`` atomically on close."""

    def __init__(self, path: PathLike, encoding: str = 'utf-8') -> None:
        super().__init__()
        self.path, self.encoding_name = path, encoding

    def close(self) -> None:
        if not self.closed:
            data = self.getvalue().encode(self.encoding_name)
            super().close()
            atomic_write(data, self.path)


def checkpoint_hook_open(file: Any, mode: str = 'r', *args, **kwargs) -> IO:
    """``open`` for ``mmengine.hooks.checkpoint_hook``: ``'w'`` (the ``last_checkpoint``
    pointer) gives an :class:`AtomicTextFile`, other modes the builtin ``open``."""
    if mode == 'w' and not args and set(kwargs) <= {'encoding'}:
        return AtomicTextFile(file, kwargs.get('encoding') or 'utf-8')
    return builtins.open(file, mode, *args, **kwargs)


def enable_atomic_checkpoints() -> bool:
    """Apply both steps (once per process); return whether they are on. The backend is
    replaced only while ``'local'`` is mmengine's own ``LocalBackend`` (or already ours):
    a backend someone else registered is left alone, and then nothing changes."""
    if backends.get('local') not in (LocalBackend, AtomicLocalBackend):
        return False
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    checkpoint_hook.open = checkpoint_hook_open
    return True
