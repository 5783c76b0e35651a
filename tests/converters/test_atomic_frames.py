"""Converted models run every frame as one stream transaction (atomic_frames, the default of
convert_to_skipconv): a finite frame that overflows deep in the network, or at its output,
is rejected with NonFiniteError, and every later good frame's output equals a clean run that
never saw it; for every gate, on the compiled path and on the reference path."""
import contextlib
import random

import pytest
import torch
from torch import nn

import mmeff
from mmeff.layers import StreamState, stream
from mmeff.ops.errors import NonFiniteError
from tests.converters.test_stream_faults import video
from tests.helpers import frame_op_path

GATES = [
    dict(type='InputNormGate', threshold=0.3, block_size=4),
    dict(type='OutputNormGate', threshold=0.1, block_size=2),
    dict(type='ValueGate', threshold=0.02),
    dict(type='GumbelGate', block_size=2),
]

op_path = pytest.fixture(params=['compiled', 'reference'])(frame_op_path)


class Gain(nn.Module):
    """Multiplies by ``gain`` (1: the identity); a huge gain makes a finite frame overflow."""

    def __init__(self):
        super().__init__()
        self.gain = 1.0

    def forward(self, x):
        return x * self.gain


class DeepNet(nn.Module):
    """Five convs; ``inside`` sits before the fourth, ``outside`` after the last."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU())
        self.inside = Gain()
        self.late = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 4, 1)
        self.outside = Gain()

    def forward(self, x):
        x = self.body(self.stem(x))
        return self.outside(self.head(torch.relu(self.late(self.inside(x)))))


def converted(gate, **kwargs):
    torch.manual_seed(0)
    return mmeff.convert_to_skipconv(DeepNet().eval(), gate=gate, **kwargs)


def run_with_overflows(model, frames, where, rejects=True):
    """The outputs of ``frames``, with overflowing copies of random earlier frames in between
    (the gain at ``where`` set to 3e38 for them), each rejected with NonFiniteError if
    ``rejects``; returns the outputs and the number of bad frames."""
    rng, outputs, rejected = random.Random(0), [], 0
    gain = getattr(model, where)
    for t, x in enumerate(frames):
        while t > 0 and rng.random() < 0.4:
            gain.gain = 3e38
            try:
                expected = pytest.raises(NonFiniteError, match='NaN or Inf') if rejects else \
                    contextlib.suppress(NonFiniteError)
                with expected:
                    model(frames[rng.randrange(t)] + 0.5)
            finally:
                gain.gain = 1.0
            rejected += 1
        outputs.append(model(x))
    return outputs, rejected


@pytest.mark.parametrize('where', ['inside', 'outside'])
@pytest.mark.parametrize('gate', GATES, ids=lambda g: g['type'])
def test_a_frame_that_overflows_deep_in_the_model_leaves_later_frames_as_a_clean_run(
        gate, where, op_path):
    model, frames = converted(gate), video(12)
    with torch.no_grad():
        clean = [model(x) for x in frames]  # the layers' default streams
        mmeff.reset_streams(model)
        outputs, rejected = run_with_overflows(model, frames, where)
    assert rejected >= 3
    for got, expected in zip(outputs, clean):
        assert torch.equal(got, expected)


@pytest.mark.parametrize('gate', GATES[::2], ids=lambda g: g['type'])
def test_the_frames_of_a_stream_block_are_atomic_too(gate, op_path):
    model, frames = converted(gate), video(8)
    with torch.no_grad():
        with stream(StreamState()):
            clean = [model(x) for x in frames]
        with stream(StreamState()):
            outputs, rejected = run_with_overflows(model, frames, 'inside')
    assert rejected >= 2
    for got, expected in zip(outputs, clean):
        assert torch.equal(got, expected)


def test_without_atomic_frames_the_earlier_layers_keep_the_bad_frame():
    """The failure the transactions prevent: the layers before the overflow take the frame."""
    model, frames = converted(GATES[0], atomic=False), video(8)
    with torch.no_grad():
        clean = [model(x) for x in frames]
        mmeff.reset_streams(model)
        outputs, _ = run_with_overflows(model, frames, 'inside', rejects=False)
    assert any(not torch.equal(got, expected) for got, expected in zip(outputs, clean))


def test_training_mode_calls_run_outside_transactions():
    model = converted(GATES[0]).train()
    model.outside.gain = float('inf')
    out = model(torch.ones(2, 3, 8, 8))  # dense; the overflow is the caller's to handle
    assert not torch.isfinite(out).all()


def test_converting_twice_opens_one_transaction_per_call():
    model = converted(GATES[0])
    mmeff.convert_to_skipconv(model)
    assert len(model._forward_pre_hooks) == 1 and len(model._forward_hooks) == 1
