"""Stream transactions over SkipConv2d: the entries keep undo logs instead of being copied, and
a rollback restores every cache bit for bit, for every gate, on the compiled path and on the
reference path."""
import pytest
import torch
from torch import nn

from mmeff.layers import SkipConv2d, StreamState, stream, stream_transaction
from tests.helpers import frame_op_path

GATES = [
    (dict(type='InputNormGate', threshold=0.5, block_size=4), 'accumulated'),
    (dict(type='OutputNormGate', threshold=0.1, block_size=2), 'accumulated'),
    (dict(type='ValueGate', threshold=0.05), 'accumulated'),
    (dict(type='GumbelGate', block_size=2), 'accumulated'),
    (dict(type='InputNormGate', threshold=0.5, block_size=4), 'previous'),
]
GATE_IDS = ['InputNormGate', 'OutputNormGate', 'ValueGate', 'GumbelGate', 'previous']

op_path = pytest.fixture(params=['compiled', 'reference'])(frame_op_path)


def skipconv_model(gate, reference):
    torch.manual_seed(0)
    return nn.Sequential(SkipConv2d(3, 8, 3, padding=1, gate=gate, reference=reference), nn.ReLU(),
                         SkipConv2d(8, 8, 3, padding=1, gate=gate, reference=reference), nn.ReLU(),
                         SkipConv2d(8, 4, 1, gate=gate, reference=reference)).eval()


def video(frames, seed):
    g = torch.Generator().manual_seed(seed)
    x, out = torch.randn(1, 3, 16, 16, generator=g), []
    for t in range(frames):
        x = x.clone()
        y = 4 * (t % 3)
        x[..., y:y + 5, 2:8] += 0.3 * torch.randn(1, 3, 5, 6, generator=g)
        out.append(x)
    return out


def caches(state):
    """Every entry of ``state`` with copies of its tensors."""
    return [(e, e.reference.clone(), e.output.clone()) for e in state.entries()]


@pytest.mark.parametrize('gate, reference', GATES, ids=GATE_IDS)
def test_a_rollback_restores_every_cache_bit_for_bit(gate, reference, op_path):
    model, frames = skipconv_model(gate, reference), video(7, seed=1)
    state = StreamState()
    with torch.no_grad():
        with stream(state):
            for x in frames[:3]:
                model(x)
        before = caches(state)
        with pytest.raises(RuntimeError, match='a later layer failed'):
            with stream_transaction(state) as staged:
                for x in frames[3:6]:  # several frames in one transaction: the log stacks up
                    model(x)
                assert all(
                    staged.get(layer) is state.get(layer) for layer in model
                    if isinstance(layer, SkipConv2d))  # logged, not copied
                assert all(len(e.undo) > 0 for e in state.entries())
                raise RuntimeError('a later layer failed')
    after = state.entries()  # the same entries, not copies
    assert len(after) == len(before) and all(a is b for a, (b, _, _) in zip(after, before))
    for entry, reference_before, output_before in before:
        assert entry.undo is None
        assert torch.equal(entry.reference, reference_before)
        assert torch.equal(entry.output, output_before)


@pytest.mark.parametrize('gate, reference', GATES, ids=GATE_IDS)
def test_committed_and_rolled_back_transactions_leave_the_stream_of_a_clean_run(
        gate, reference, op_path):
    model, frames = skipconv_model(gate, reference), video(8, seed=2)
    other = video(3, seed=3)
    with torch.no_grad():
        clean_state = StreamState()
        with stream(clean_state):
            clean = [model(x) for x in frames]
        state, outputs = StreamState(), []
        for t, x in enumerate(frames):
            if t in (2, 5):
                with pytest.raises(KeyError):
                    with stream_transaction(state):
                        for y in other:
                            model(y)
                        raise KeyError('dropped')
            with stream_transaction(state):
                outputs.append(model(x))
            assert all(e.undo is None for e in state.entries())
    for got, expected in zip(outputs, clean):
        assert torch.equal(got, expected)


def test_a_key_frame_inside_a_transaction_replaces_the_entry_only_on_commit(op_path):
    model, frames = skipconv_model(*GATES[0]), video(2, seed=4)
    layer, state = model[0], StreamState()
    with torch.no_grad():
        with stream(state):
            model(frames[0])
        entry = state.get(layer)
        with pytest.raises(ValueError, match='dropped'):
            with stream_transaction(state):
                model(frames[1][..., :12, :12])  # another frame size: every layer restarts
                assert state.get(layer) is entry
                raise ValueError('dropped')
        assert state.get(layer) is entry and entry.undo is None
        with stream_transaction(state):
            model(frames[1][..., :12, :12])
        assert state.get(layer) is not entry


def test_a_transaction_on_the_same_state_inside_one_forks_what_the_outer_one_logs(op_path):
    """A transaction on ``state`` itself (not on the outer view) inside one is a transaction of
    its own: it forks the entries that the outer one logs and commits its forks to ``state``;
    the outer rollback restores the entries it logged."""
    model, frames = skipconv_model(*GATES[0]), video(4, seed=5)
    state = StreamState()
    with torch.no_grad():
        with stream(state):
            model(frames[0])
        before = caches(state)
        with pytest.raises(RuntimeError, match='outer'):
            with stream_transaction(state):
                model(frames[1])
                with stream_transaction(state):
                    model(frames[2])
                raise RuntimeError('outer')
    assert not any(entry is e for entry, _, _ in before for e in state.entries())
    for entry, reference_before, output_before in before:
        assert entry.undo is None
        assert torch.equal(entry.reference, reference_before)
        assert torch.equal(entry.output, output_before)
