"""Memory of a StreamBufferConv3d + causal SE stack streamed frame by frame, in a fresh process
(tests/layers/test_stream_buffer_conv3d.py). Prints one JSON object: the state's bytes after 200
and after 10,200 frames, the frames the pool counted, the C heap's live-byte growth over the
last 10,000 frames, and the peak RSS over those 10,000 frames minus that over 100."""
import json

import torch

from mmeff.engine import PeakMemory, live_heap_bytes
from mmeff.layers import CausalSqueezeExcitation, StreamBufferConv3d, StreamState, stream

torch.set_num_threads(1)
torch.manual_seed(0)
net = torch.nn.Sequential(StreamBufferConv3d(4, 4, (5, 3, 3), padding=(0, 1, 1)),
                          CausalSqueezeExcitation(4, 8, position_encoding=True)).eval()
frame = torch.randn(1, 4, 1, 16, 16)
state = StreamState()


def state_bytes() -> int:
    return sum(t.numel() * t.element_size() for e in state.entries() for t in vars(e).values()
               if isinstance(t, torch.Tensor))


with torch.no_grad(), stream(state):
    for _ in range(100):
        net(frame)
    with PeakMemory() as short:
        for _ in range(100):
            net(frame)
    size, heap = state_bytes(), live_heap_bytes()
    with PeakMemory() as long:
        for _ in range(10000):
            net(frame)
    heap_growth = live_heap_bytes() - heap
print(
    json.dumps(
        dict(state_bytes_before=size, state_bytes_after=state_bytes(),
             frames=state.get(net[1].pool).frames, heap_growth=heap_growth,
             peak_growth=long.peak_bytes - short.peak_bytes)))
