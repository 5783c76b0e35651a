"""mmaction2 parts: MoViNet backbones, head, streaming recognizer, temporal ensemble, streaming
test loop and its cost metric.

Imported automatically once ``mmaction.models`` loads (see ``mmeff.registry``); everything is
registered in mmaction2's own registries.
"""
from .movinet import ARCHS, MoViNet, MoViNetBlock
from .movinet_frame import FramePlan, frame_ops
from .movinet_head import MoViNetHead
from .movinet_recognizer import MoViNetRecognizer
from .stream_cost_metric import StreamCostMetric
from .stream_test_loop import StreamingTestLoop
from .temporal_ensemble import TemporalEnsemble

__all__ = [
    'ARCHS', 'MoViNet', 'MoViNetBlock', 'MoViNetHead', 'MoViNetRecognizer', 'StreamCostMetric',
    'StreamingTestLoop', 'TemporalEnsemble', 'FramePlan', 'frame_ops'
]
