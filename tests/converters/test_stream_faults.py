"""Stream faults over a converted model: inside ``stream_transaction``, random bad frames
(NaN, Inf, a finite frame that overflows inside, a frame of another dtype) are rejected and the good
frames' outputs equal those of a clean run."""
import random

import pytest
import torch
from torch import nn

import mmeff
from mmeff.layers import StreamState, stream_transaction
from mmeff.ops.errors import NonFiniteError


class ResidualNet(nn.Module):
    """conv-BN-ReLU stem, a residual block with an in-place ReLU, a 1x1 head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8),
                                   nn.ReLU(inplace=True), nn.Conv2d(8, 8, 3, padding=1))
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = self.stem(x)
        return self.head(torch.relu(x + self.block(x)))


def converted(gate):
    torch.manual_seed(0)
    model = ResidualNet().eval()
    with torch.no_grad():
        model.stem[0].weight.abs_()  # a frame of 3e38 overflows in the first conv
        for bn in (model.stem[1], model.block[1]):
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
    return mmeff.convert_to_skipconv(model, gate=gate)


def video(frames):
    g = torch.Generator().manual_seed(1)
    x, out = torch.randn(1, 3, 24, 24, generator=g), []
    for t in range(frames):
        x = x.clone()
        y, z = (2 * t) % 16, (3 * t) % 16
        x[..., y:y + 8, z:z + 8] += 0.2 * torch.randn(1, 3, 8, 8, generator=g)
        out.append(x)
    return out


def bad_frame(kind):
    if kind == 'dtype':
        return torch.randn(1, 3, 24, 24, dtype=torch.float64), ValueError
    value = dict(nan=float('nan'), inf=float('inf'), overflow=3e38)[kind]
    frame = torch.randn(1, 3, 24, 24)
    frame[..., 5:9, 5:9] = value
    return (torch.full_like(frame, value) if kind == 'overflow' else frame), NonFiniteError


@pytest.mark.parametrize('gate', [
    dict(type='InputNormGate', threshold=0.3, block_size=4),
    dict(type='OutputNormGate', threshold=0.1, block_size=2),
    dict(type='ValueGate', threshold=0.02)
], ids=lambda g: g['type'])
def test_bad_frames_in_a_stream_leave_the_good_frames_as_a_clean_run(gate):
    model, frames = converted(gate), video(16)
    rng = random.Random(0)
    with torch.no_grad():
        clean_state = StreamState()
        clean = []
        for x in frames:
            with stream_transaction(clean_state):
                clean.append(model(x))
        state, outputs, rejected = StreamState(), [], 0
        for x in frames:
            while rng.random() < 0.4:
                frame, error = bad_frame(rng.choice(['nan', 'inf', 'overflow', 'dtype']))
                with pytest.raises(error):
                    with stream_transaction(state):
                        model(frame)
                rejected += 1
            with stream_transaction(state):
                outputs.append(model(x))
    assert rejected >= 5
    for got, expected in zip(outputs, clean):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
