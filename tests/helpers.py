"""Shared test helpers."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmeff.engine import PeakMemory, live_heap_bytes

REPO = Path(__file__).resolve().parents[1]

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                   reason='needs a CUDA GPU; none is visible on this machine')
#: Both memory measures of mmeff.engine: the peak RSS and the C heap's live bytes.
requires_memory_measures = pytest.mark.skipif(
    not PeakMemory.cpu_supported() or live_heap_bytes() is None,
    reason='needs Linux /proc/self/clear_refs and glibc >= 2.33 (mallinfo2)')


def assert_fallback_warns_once(monkeypatch, op_name: str, call, reference, calls: int = 2) -> None:
    """With the extension reported missing to the op wrappers, ``call()`` equals
    ``reference()`` every time and exactly one warning names ``op_name``."""
    from mmeff.ops import extension
    messages = []
    monkeypatch.setattr(extension, 'print_log', lambda msg, **kwargs: messages.append(msg))
    monkeypatch.setattr(extension, 'has_extension', lambda: False)
    extension.warn_fallback.cache_clear()
    try:
        for _ in range(calls):
            torch.testing.assert_close(call(), reference())
    finally:
        extension.warn_fallback.cache_clear()
    assert len(messages) == 1 and op_name in messages[0]


def frame_op_path(request, monkeypatch):
    """Body of a fixture with params ``['compiled', 'reference']``: the frame ops run compiled
    (skipped without the extension), or their references (the extension reported missing)."""
    from mmeff.ops import extension
    if request.param == 'compiled':
        if not extension.has_extension():
            pytest.skip('the compiled extension is not built (bash tools/run.sh setup builds '
                        'it); the reference path is tested instead')
        yield request.param
        return
    monkeypatch.setattr(extension, 'print_log', lambda *args, **kwargs: None)
    monkeypatch.setattr(extension, 'has_extension', lambda: False)
    extension.warn_fallback.cache_clear()
    yield request.param
    extension.warn_fallback.cache_clear()


def block_mask(n: int, h: int, w: int, block: int, density: float, seed: int = 0) -> torch.Tensor:
    """Bool (n, h, w) mask made of block x block tiles, about `density` of them active."""
    g = torch.Generator().manual_seed(seed)
    tiles = torch.rand(n, -(-h // block), -(-w // block), generator=g) < density
    full = tiles.repeat_interleave(block, 1).repeat_interleave(block, 2)
    return full[:, :h, :w].contiguous()


def build_model(model_cfg, scope: str) -> torch.nn.Module:
    """Build a model config from the registry of toolbox ``scope`` (mmdet, mmpose, mmaction)."""
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    return registry.build(model_cfg)


def clip_pieces(frames: int, mode: str, seed: int = 0) -> list:
    """Lengths that split a clip of ``frames`` frames: 'whole', 'frames' (all 1) or 'random'."""
    if mode == 'whole':
        return [frames]
    if mode == 'frames':
        return [1] * frames
    g = torch.Generator().manual_seed(seed)
    lengths = []
    while sum(lengths) < frames:
        lengths.append(min(int(torch.randint(1, 5, (1, ), generator=g)), frames - sum(lengths)))
    return lengths


def stream_in_pieces(fn, x: torch.Tensor, lengths: list) -> torch.Tensor:
    """Concatenate ``fn`` over consecutive time pieces of ``x`` (N, C, T, ...) along ``dim=2``
    (``fn``'s output time axis must be 2 as well); run inside a ``mmeff.stream`` block."""
    outputs, start = [], 0
    for length in lengths:
        outputs.append(fn(x[:, :, start:start + length]))
        start += length
    return torch.cat(outputs, dim=2)


def run_probe(script: Path, *args: str, timeout: float = 600) -> dict:
    """Run the probe ``script`` with ``args`` in a fresh interpreter, the repository first on
    its path, and return the JSON object it prints last. A failed probe fails the test with the
    tail of its stderr. For measurements that allocations of the pytest process would disturb."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get('PYTHONPATH')]))
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=path), timeout=timeout)
    assert done.returncode == 0, f'{script.name} exited with {done.returncode}:\n' \
        f'{done.stderr[-3000:]}'
    return json.loads(done.stdout.strip().splitlines()[-1])
