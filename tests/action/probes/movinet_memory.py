"""Memory of a tiny MoViNet recognizer streamed frame by frame, in a fresh process
(tests/action/test_movinet.py). Prints one JSON object: the state's bytes after 100 and after
1,200 frames, the C heap's live-byte growth over the last 1,100 frames, and the peak RSS over
1,000 frames minus that over 100."""
import json

import torch
from mmengine.registry import init_default_scope

from mmeff.engine import PeakMemory, live_heap_bytes
from mmeff.layers import StreamState
from tests.action.test_movinet import TINY, build

torch.set_num_threads(1)
init_default_scope('mmaction')
model = build(TINY)
frame = torch.randn(1, 3, 1, 32, 32)
state = StreamState()
with torch.no_grad():
    for _ in range(100):
        model.predict_stream(frame, state)
    after_100, heap_100 = state.nbytes(), live_heap_bytes()
    with PeakMemory() as short:
        for _ in range(100):
            model.predict_stream(frame, state)
    with PeakMemory() as long:
        for _ in range(1000):
            model.predict_stream(frame, state)
    heap_1200 = live_heap_bytes()
print(
    json.dumps(
        dict(state_bytes_before=after_100, state_bytes_after=state.nbytes(),
             heap_growth=heap_1200 - heap_100, peak_growth=long.peak_bytes - short.peak_bytes)))
