"""``FrameMacsMetric``: mean dense and executed GMACs per frame, next to a task metric."""
from typing import Dict, List, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS

#: The per-frame MAC counts of a sample (set by mmeff's video loops) and their metric names.
_COUNTS = (('dense_macs', 'dense_gmacs'), ('executed_macs', 'executed_gmacs'))
_BACKBONE_COUNTS = (('backbone_dense_macs', 'backbone_dense_gmacs'), ('backbone_executed_macs',
                                                                      'backbone_executed_gmacs'))


@METRICS.register_module()
class FrameMacsMetric(BaseMetric):
    """Averages the per-frame conv MACs that mmeff's video loops attach to every sample.

    Reports ``dense_gmacs`` (the model's conv GMACs per frame computed densely),
    ``executed_gmacs`` (what ran) and ``mac_ratio`` = executed / dense; for a model with a
    ``backbone`` (every sample then carries its counts), also ``backbone_dense_gmacs``,
    ``backbone_executed_gmacs`` and ``backbone_mac_ratio``. A sampling-interpolation
    backbone charges its blocks sparsely, mask heads and interpolation included
    (``SparseBottleneck``). Add it to the evaluator beside the stock metric::

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
            counts = _COUNTS + (_BACKBONE_COUNTS if 'backbone_dense_macs' in sample else ())
            self.results.append({key: sample[key] for key, _ in counts})

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        frames = max(len(results), 1)
        metrics = {}
        with_backbone = bool(results) and all('backbone_dense_macs' in r for r in results)
        for key, name in _COUNTS + (_BACKBONE_COUNTS if with_backbone else ()):
            metrics[name] = sum(r[key] for r in results) / frames / 1e9
        metrics['mac_ratio'] = _ratio(metrics['executed_gmacs'], metrics['dense_gmacs'])
        if with_backbone:
            metrics['backbone_mac_ratio'] = _ratio(metrics['backbone_executed_gmacs'],
                                                   metrics['backbone_dense_gmacs'])
        return metrics


def _ratio(executed: float, dense: float) -> float:
    return executed / dense if dense else 0.0
