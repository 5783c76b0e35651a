"""Memory of a block of code: CUDA allocator peak, or the process's peak RSS on Linux; and the
bytes currently allocated on the C heap (glibc), which page reuse does not hide."""
import ctypes
import re
from pathlib import Path
from typing import Optional

import torch

_STATUS = Path('/proc/self/status')
_CLEAR_REFS = Path('/proc/self/clear_refs')


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t)
                for name in ('arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks',
                             'uordblks', 'fordblks', 'keepcost')]


def live_heap_bytes() -> Optional[int]:
    """Bytes currently allocated through malloc (glibc ``mallinfo2``: in-use arena blocks plus
    mmapped blocks), CPU tensors included; None where glibc >= 2.33 is not available. Unlike
    peak RSS it also sees growth that reuses pages the process freed earlier."""
    try:
        libc = ctypes.CDLL('libc.so.6')
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        return None
    info = libc.mallinfo2()
    return info.uordblks + info.hblkhd


def _peak_rss_bytes() -> int:
    return int(re.search(r'VmHWM:\s+(\d+) kB', _STATUS.read_text()).group(1)) * 1024


class PeakMemory:
    """``with PeakMemory(device) as meter: ...`` then ``meter.peak_bytes``.

    On CUDA: ``torch.cuda.max_memory_allocated`` over the block. On CPU: the process's peak
    resident set size (``VmHWM``) over the block, reset on entry by writing 5 to
    ``/proc/self/clear_refs`` (Linux); it includes everything the process touches, so compare
    runs of the same code, and it does not grow while allocations reuse pages the process freed
    earlier (see :func:`live_heap_bytes`). ``peak_bytes`` is None where neither is available.
    """

    def __init__(self, device: torch.device = torch.device('cpu')):
        self.device = torch.device(device)
        self.peak_bytes: Optional[int] = None

    @staticmethod
    def cpu_supported() -> bool:
        return _STATUS.exists() and _CLEAR_REFS.exists()

    def __enter__(self) -> 'PeakMemory':
        self.peak_bytes = None
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.cpu_supported():
            _CLEAR_REFS.write_text('5')
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device)
        elif self.cpu_supported():
            self.peak_bytes = _peak_rss_bytes()
