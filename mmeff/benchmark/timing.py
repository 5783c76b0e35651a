"""Timing of a fast path against its baseline in one process."""
import random
import statistics
import time
from typing import Callable, Dict, List


def median_times(fns: Dict[str, Callable[[], object]], repeats: int, warmup: int,
                 burst: int = 4) -> Dict[str, float]:
    """Median wall time in seconds of each function, timed alternately.

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
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in samples.items()}
