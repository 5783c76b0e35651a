"""mmaction2 parts: MoViNet backbones, head, streaming recognizer, streaming test loop.

Imported automatically once ``mmaction.models`` loads (see ``mmeff.registry``); everything is
registered in mmaction2's own registries.
"""
from .movinet import ARCHS, MoViNet, MoViNetBlock
from .movinet_head import MoViNetHead
from .movinet_recognizer import MoViNetRecognizer
from .stream_cost_metric import StreamCostMetric
from .stream_test_loop import StreamingTestLoop

__all__ = [
    'ARCHS', 'MoViNet', 'MoViNetBlock', 'MoViNetHead', 'MoViNetRecognizer', 'StreamCostMetric',
    'StreamingTestLoop'
]
