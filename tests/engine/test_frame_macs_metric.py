"""FrameMacsMetric averages the MACs the video loops attach to samples."""
import pytest

from mmeff.engine import FrameMacsMetric


def test_means_and_ratio():
    metric = FrameMacsMetric()
    metric.process({},
                   [dict(dense_macs=2e9, executed_macs=1e9),
                    dict(dense_macs=2e9, executed_macs=0)])
    result = metric.compute_metrics(metric.results)
    assert result == dict(dense_gmacs=2.0, executed_gmacs=0.5, mac_ratio=0.25)


def test_samples_without_macs_name_the_loop_to_use():
    with pytest.raises(KeyError, match='VideoValLoop'):
        FrameMacsMetric().process({}, [dict(pred_instances=None)])


def test_backbone_figures_when_every_sample_has_them():
    metric = FrameMacsMetric()
    metric.process({}, [
        dict(dense_macs=4e9, executed_macs=3e9, backbone_dense_macs=2e9,
             backbone_executed_macs=1e9),
        dict(dense_macs=4e9, executed_macs=2e9, backbone_dense_macs=2e9, backbone_executed_macs=0.0)
    ])
    result = metric.compute_metrics(metric.results)
    assert result == dict(dense_gmacs=4.0, executed_gmacs=2.5, mac_ratio=0.625,
                          backbone_dense_gmacs=2.0, backbone_executed_gmacs=0.5,
                          backbone_mac_ratio=0.25)
    metric.process({}, [dict(dense_macs=4e9, executed_macs=4e9)])  # a model without backbone
    assert 'backbone_dense_gmacs' not in metric.compute_metrics(metric.results)
