"""StreamState: transactions (all-or-nothing, nested ones join the outermost), forks, sizes."""
import pytest
import torch
from torch import nn

from mmeff.layers import SkipConv2d, StreamState, StreamStateful, stream, stream_transaction
from mmeff.ops.errors import NonFiniteError


class Counter(StreamStateful, nn.Module):
    """Stores how often it ran in the active stream (a new entry per call)."""

    def forward(self):
        self.store_entry((self.load_entry() or 0) + 1)


def test_writes_reach_the_state_only_if_the_block_raises_nothing():
    layer, state = Counter(), StreamState()
    with stream_transaction(state) as staged:
        layer()
        assert staged is not state and state.get(layer) is None
    assert state.get(layer) == 1
    with pytest.raises(RuntimeError):
        with stream_transaction(state):
            layer()
            raise RuntimeError('rejected')
    assert state.get(layer) == 1


def test_a_nested_transaction_joins_the_outer_one():
    inner_layer, outer_layer, state = Counter(), Counter(), StreamState()
    with pytest.raises(RuntimeError):
        with stream_transaction(state) as staged:
            with stream_transaction(staged) as joined:
                assert joined is staged  # no second copy
                inner_layer()
            outer_layer()
            raise RuntimeError('rejected after the inner block succeeded')
    assert state.get(inner_layer) is None and state.get(outer_layer) is None
    with stream_transaction(state) as staged:
        with stream_transaction(staged):
            inner_layer()
    assert state.get(inner_layer) == 1


def test_a_transaction_on_another_state_inside_one_is_its_own():
    layer, first, second = Counter(), StreamState(), StreamState()
    with stream_transaction(first):
        with stream_transaction(second):
            layer()
        assert second.get(layer) == 1 and first.get(layer) is None


def skipconv_model(gate):
    torch.manual_seed(0)
    model = nn.Sequential(SkipConv2d(3, 8, 3, padding=1, gate=gate), nn.ReLU(),
                          SkipConv2d(8, 4, 3, padding=1, gate=gate)).eval()
    return model


def video(frames, seed):
    g = torch.Generator().manual_seed(seed)
    x, out = torch.randn(1, 3, 16, 16, generator=g), []
    for _ in range(frames):
        x = x.clone()
        x[..., :6, :6] += 0.3 * torch.randn(1, 3, 6, 6, generator=g)
        out.append(x)
    return out


GATES = [
    dict(type='InputNormGate', threshold=0.5, block_size=4),
    dict(type='ValueGate', threshold=0.05),
    dict(type='GumbelGate', block_size=2)
]


@pytest.mark.parametrize('gate', GATES, ids=lambda g: g['type'])
def test_a_fork_fed_another_video_leaves_the_original_stream_as_it_was(gate):
    model, first, other = skipconv_model(gate), video(6, seed=1), video(4, seed=2)
    with torch.no_grad():
        clean = [model(x) for x in first]  # the model's default stream
        state = StreamState()
        with stream(state):
            outputs = [model(x) for x in first[:3]]
        fork = state.fork()
        with stream(fork):
            for x in other:
                model(x)
        with stream(state):
            outputs += [model(x) for x in first[3:]]
    for got, expected in zip(outputs, clean):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize('gate', GATES, ids=lambda g: g['type'])
def test_a_frame_rejected_deep_in_a_transaction_changes_no_layer(gate):
    """A finite frame that overflows in the first conv is rejected by the second; inside a
    transaction the first conv's update is dropped too, so the good frames' outputs equal a
    run that never saw the bad frame."""
    model, frames = skipconv_model(gate), video(6, seed=3)
    overflowing = torch.full((1, 3, 16, 16), 3e38)
    with torch.no_grad():
        model[0].weight.abs_()  # 27 positive products of 3e38 overflow
        clean = [model(x) for x in frames]
        state, outputs = StreamState(), []
        for t, x in enumerate(frames):
            if t in (2, 4):
                with pytest.raises(NonFiniteError, match='NaN or Inf'):
                    with stream_transaction(state):
                        model(overflowing)
            with stream_transaction(state):
                outputs.append(model(x))
    for got, expected in zip(outputs, clean):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_nbytes_counts_the_tensors_of_every_entry():
    model, state = skipconv_model(GATES[0]), StreamState()
    with torch.no_grad(), stream(state):
        model(video(1, seed=0)[0])
    expected = sum(t.numel() * t.element_size() for e in state.entries()
                   for t in (e.reference, e.output))
    assert state.nbytes() == expected > 0


def test_a_stream_cannot_be_reset_inside_a_transaction_on_it():
    with stream_transaction(StreamState()) as staged:
        with pytest.raises(RuntimeError, match='cannot be reset inside a transaction'):
            staged.reset()


def test_a_fork_taken_inside_a_transaction_holds_the_staged_and_the_committed_entries():
    staged_layer, committed_layer, state = Counter(), Counter(), StreamState()
    with stream_transaction(state):
        committed_layer()
    with stream_transaction(state) as staged:
        staged_layer()
        fork = staged.fork()
        staged_layer()
    assert fork.get(staged_layer) == 1 and fork.get(committed_layer) == 1
    assert state.get(staged_layer) == 2
