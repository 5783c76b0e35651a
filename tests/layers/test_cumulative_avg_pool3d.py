"""CumulativeAvgPool3d: running-mean oracle, streaming == full clip, O(1) state."""
import pytest
import torch

from mmeff.layers import CumulativeAvgPool3d, StreamState, stream
from mmeff.registry import MODELS
from tests.helpers import clip_pieces, stream_in_pieces


def cumulative_mean_reference(x):
    """Frame t: mean over H, W and frames 0..t, one frame at a time."""
    frames = [x[:, :, :t + 1].mean(dim=(2, 3, 4)) for t in range(x.shape[2])]
    return torch.stack(frames, dim=2)[..., None, None]


@pytest.mark.parametrize('pieces', ['whole', 'frames', 'random'])
def test_streaming_equals_running_mean(pieces):
    pool = CumulativeAvgPool3d(4)
    x = torch.randn(2, 4, 13, 3, 5)
    with stream(StreamState()):
        out = stream_in_pieces(pool, x, clip_pieces(13, pieces, seed=1))
    torch.testing.assert_close(out, cumulative_mean_reference(x))


def test_state_is_a_running_sum_of_constant_size():
    pool = CumulativeAvgPool3d(3)
    state = StreamState()
    with stream(state):
        for _ in range(50):
            pool(torch.randn(1, 3, 2, 4, 4))
        assert pool.frames_seen() == 100
    entry = state.get(pool)
    assert entry.total.shape == (1, 3, 1, 1, 1) and entry.frames == 100


def test_frame_size_may_change_but_batch_and_channels_may_not():
    pool = CumulativeAvgPool3d(3)
    with stream(StreamState()) as state:
        pool(torch.ones(1, 3, 1, 4, 4))
        out = pool(torch.zeros(1, 3, 1, 2, 2))  # pooling does not depend on the frame size
        torch.testing.assert_close(out, torch.full((1, 3, 1, 1, 1), 0.5))
        entry = state.get(pool)
        with pytest.raises(ValueError, match='batch'):
            pool(torch.ones(2, 3, 1, 4, 4))
        with pytest.raises(ValueError, match='channels'):
            pool(torch.ones(1, 2, 1, 4, 4))
        assert state.get(pool) is entry


def test_registered():
    assert isinstance(MODELS.build(dict(type='CumulativeAvgPool3d', channels=2)),
                      CumulativeAvgPool3d)
