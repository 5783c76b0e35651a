"""``StreamCostMetric``: per-frame latency, peak memory and state size of streamed test videos."""
from typing import List, Optional, Sequence

import numpy as np
from mmaction.registry import METRICS
from mmengine.evaluator import BaseMetric

FIELDS = ('stream_ms_per_frame', 'stream_peak_memory_mb', 'stream_state_mb')


@METRICS.register_module()
class StreamCostMetric(BaseMetric):
    """Summarises the cost fields :class:`StreamingTestLoop` puts on each data sample.

    Reports ``stream/ms_per_frame`` (mean over videos), ``stream/peak_memory_mb`` (max; -1 if
    unmeasurable) and ``stream/state_mb`` (max).
    """
    default_prefix = 'stream'

    def __init__(self, collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            missing = [f for f in FIELDS if f not in sample]
            if missing:
                raise KeyError(f'StreamCostMetric: data sample lacks {missing}; run the test with '
                               "test_cfg=dict(type='StreamingTestLoop')")
            self.results.append({f: float(sample[f]) for f in FIELDS})

    def compute_metrics(self, results: List[dict]) -> dict:

        def values(field):
            return np.array([r[field] for r in results])

        return dict(ms_per_frame=float(values('stream_ms_per_frame').mean()),
                    peak_memory_mb=float(values('stream_peak_memory_mb').max()),
                    state_mb=float(values('stream_state_mb').max()))
