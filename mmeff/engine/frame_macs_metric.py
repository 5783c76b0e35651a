"""``FrameMacsMetric``: mean dense and executed GMACs per frame, next to a task metric."""
from typing import Dict, List, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS


@METRICS.register_module()
class FrameMacsMetric(BaseMetric):
    """Averages the per-frame conv MACs that mmeff's video loops attach to every sample.

    Reports ``dense_gmacs`` (the model's conv GMACs per frame computed densely),
    ``executed_gmacs`` (what ran) and ``mac_ratio`` = executed / dense. Add it to the
    evaluator beside the stock metric::

        val_evaluator = [dict(type='JhmdbPCKAccuracy', thr=0.2), dict(type='FrameMacsMetric')]
        val_cfg = dict(type='VideoValLoop')
    """
    default_prefix = 'macs'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'dense_macs' not in sample or 'executed_macs' not in sample:
                raise KeyError('FrameMacsMetric: the sample has no dense_macs/executed_macs; '
                               "evaluate with mmeff's VideoValLoop / VideoTestLoop "
                               "(val_cfg = dict(type='VideoValLoop'))")
            self.results.append((sample['dense_macs'], sample['executed_macs']))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        frames = max(len(results), 1)
        dense = sum(r[0] for r in results) / frames / 1e9
        executed = sum(r[1] for r in results) / frames / 1e9
        return dict(dense_gmacs=dense, executed_gmacs=executed,
                    mac_ratio=executed / dense if dense else 0.0)
