"""stream_transaction: all-or-nothing writes, nested transactions joining the outermost."""
import pytest
from torch import nn

from mmeff.layers import StreamState, StreamStateful, stream_transaction


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
