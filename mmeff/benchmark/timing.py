"""Timing of a fast path against its baseline in one process."""
import argparse
import random
import statistics
import time
from typing import Callable, Dict, List

import torch

#: ``--clock`` choices: wall time, or this process's CPU time (all threads added up)
CLOCKS: Dict[str, Callable[[], float]] = dict(wall=time.perf_counter, cpu=time.process_time)


def add_clock_argument(parser: argparse.ArgumentParser) -> None:
    """``--clock wall|cpu`` (default wall); read it with :func:`chosen_clock`."""
    parser.add_argument(
        '--clock', choices=sorted(CLOCKS), default='wall',
        help='cpu: this process\'s CPU time, not stretched by other processes\' load '
        '(with --threads 1 only)')


def chosen_clock(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Callable[[], float]:
    """The clock of ``--clock``; a parser error for ``cpu`` with more than one thread (CPU time
    adds up the threads')."""
    if args.clock == 'cpu' and args.threads != 1:
        parser.error('--clock cpu adds up the threads\' CPU time: use it with --threads 1')
    return CLOCKS[args.clock]


def add_timing_arguments(parser: argparse.ArgumentParser, repeats: int, warmup: int) -> None:
    """The options every benchmark script takes: ``--threads`` (2), ``--repeats`` and
    ``--warmup`` of :func:`median_times`, and ``--json`` (where to write the record)."""
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=repeats)
    parser.add_argument('--warmup', type=int, default=warmup)
    parser.add_argument('--json', help='write the benchmark record (mmeff.benchmark) here')


def median_times(fns: Dict[str, Callable[[], object]], repeats: int, warmup: int, burst: int = 4,
                 clock: Callable[[], float] = time.perf_counter) -> Dict[str, float]:
    """Median wall time in seconds of each function, timed alternately (or the time of
    another ``clock``: ``time.process_time``, this process's CPU time, is not stretched by
    other processes' load or a CPU quota's throttling, but adds up the CPU time of all threads).

    After ``warmup`` calls of each, every repeat runs every function in a burst of ``burst``
    back-to-back calls, in a shuffled order; the first call of a burst is not timed. So every
    timed call finds its own data in the caches, for the baseline and the candidates alike (a
    call right after another layer's conv finds them evicted, which slows small sparse
    problems most).
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: Dict[str, List[float]] = {k: [] for k in fns}
    order = list(fns)
    rng = random.Random(0)
    for _ in range(repeats):
        rng.shuffle(order)
        for name in order:
            fn = fns[name]
            fn()
            for _ in range(burst - 1):
                start = clock()
                fn()
                samples[name].append(clock() - start)
    return {k: statistics.median(v) for k, v in samples.items()}


class ConvTimer:
    """Wall time spent inside a model's convolutions, through forward hooks.

    Every outermost ``nn.Conv2d`` (``SkipConv2d`` included; the convs inside them, such as a
    Gumbel gate's, count with their layer) adds its call's time to a running total, which
    :meth:`take` returns and resets. The rest of a forward's time is everything else: adds,
    activations, resampling, BatchNorm left unfolded, Python.
    """

    def __init__(self, model: torch.nn.Module):
        convs = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
        outer = [n for n in convs if not any(n.startswith(p + '.') for p in convs)]
        modules = dict(model.named_modules())
        self.total = 0.0
        self._start = 0.0
        self.layers = len(outer)
        self._handles = []
        for name in outer:
            self._handles.append(modules[name].register_forward_pre_hook(self._enter))
            self._handles.append(modules[name].register_forward_hook(self._leave))

    def _enter(self, module, args) -> None:
        self._start = time.perf_counter()

    def _leave(self, module, args, output) -> None:
        self.total += time.perf_counter() - self._start

    def take(self) -> float:
        """Seconds spent in convs since the last call."""
        total, self.total = self.total, 0.0
        return total

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
