"""StreamingTestLoop's piece lengths and StreamCostMetric's summary."""
import pytest
import torch


def test_piece_lengths_cover_the_clip():
    from mmeff.action.stream_test_loop import piece_lengths
    g = torch.Generator().manual_seed(0)
    assert piece_lengths(7, 1, g) == [1] * 7
    assert piece_lengths(7, 3, g) == [3, 3, 1]
    random = piece_lengths(50, 'random', g)
    assert sum(random) == 50 and max(random) <= 8 and len(set(random)) > 1
    with pytest.raises(ValueError, match='piece_frames'):
        piece_lengths(7, 0, g)


def test_stream_cost_metric_summarises_and_requires_the_streaming_loop():
    from mmeff.action import StreamCostMetric
    metric = StreamCostMetric()
    metric.process(None, [
        dict(stream_ms_per_frame=2.0, stream_peak_memory_mb=10.0, stream_state_mb=1.0),
        dict(stream_ms_per_frame=4.0, stream_peak_memory_mb=30.0, stream_state_mb=1.0)
    ])
    assert metric.compute_metrics(metric.results) == dict(ms_per_frame=3.0, peak_memory_mb=30.0,
                                                          state_mb=1.0)
    with pytest.raises(KeyError, match='StreamingTestLoop'):
        metric.process(None, [dict(pred_score=torch.zeros(2))])
