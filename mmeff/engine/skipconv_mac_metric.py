"""``SkipConvMacMetric``: dense vs executed GMACs per frame of a SkipConv model on video."""
from typing import List, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS


@METRICS.register_module()
class SkipConvMacMetric(BaseMetric):
    """Mean dense and executed GMACs per frame, and their ratio, over the evaluated frames.

    Reads ``skipconv_dense_macs`` / ``skipconv_executed_macs`` from the output data samples,
    which ``VideoValLoop`` / ``VideoTestLoop`` write; use it next to the task metric::

        test_cfg = dict(type='VideoTestLoop')
        test_evaluator = [dict(type='CocoMetric', ...), dict(type='SkipConvMacMetric')]

    Only ``SkipConv2d`` layers are counted (every conv of a converted model).
    """
    default_prefix = 'skipconv'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'skipconv_dense_macs' not in sample:
                raise KeyError('SkipConvMacMetric: the data samples carry no MAC counts; run the '
                               'evaluation with VideoTestLoop / VideoValLoop on a model with '
                               'SkipConv2d layers (e.g. type=\'SkipConvModel\')')
            self.results.append((sample['skipconv_dense_macs'], sample['skipconv_executed_macs']))

    def compute_metrics(self, results: List[tuple]) -> dict:
        frames = len(results)
        dense = sum(r[0] for r in results) / frames / 1e9
        executed = sum(r[1] for r in results) / frames / 1e9
        return dict(dense_gmacs=round(dense, 4), executed_gmacs=round(executed, 4),
                    executed_share=round(executed / dense, 4) if dense else 0.0)
