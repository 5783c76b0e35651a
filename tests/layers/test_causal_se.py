"""CausalSqueezeExcitation: per-frame oracle, streaming == full clip with position encoding."""
import pytest
import torch

from mmeff.layers import CausalSqueezeExcitation, StreamState, stream
from mmeff.layers.causal_se import sinusoidal_position_encoding
from mmeff.registry import MODELS
from tests.helpers import clip_pieces, stream_in_pieces


def causal_se_reference(se, x):
    """Frame by frame: squeeze = [mean of frames 0..t, mean of frame t] + scale * PE(t)."""
    gated = []
    for t in range(x.shape[2]):
        squeezed = torch.cat([x[:, :, :t + 1].mean(dim=(2, 3, 4)), x[:, :, t].mean(dim=(2, 3))], 1)
        if se.position_scale is not None:
            position = torch.tensor([float(t)])
            squeezed = squeezed + se.position_scale * sinusoidal_position_encoding(
                position, squeezed.shape[1])[:, 0]
        hidden = se.act(squeezed @ se.reduce.weight.flatten(1).T + se.reduce.bias)
        gate = se.gate(hidden @ se.expand.weight.flatten(1).T + se.expand.bias)
        gated.append(x[:, :, t] * gate[..., None, None])
    return torch.stack(gated, dim=2)


def make(position_encoding, causal=True):
    torch.manual_seed(0)
    se = CausalSqueezeExcitation(6, 8, causal=causal, position_encoding=position_encoding)
    if position_encoding:
        torch.nn.init.constant_(se.position_scale, 0.7)  # zero-initialised: make it matter
    return se


@pytest.mark.parametrize('position_encoding', [False, True])
@pytest.mark.parametrize('pieces', ['whole', 'frames', 'random'])
def test_streaming_equals_per_frame_reference(position_encoding, pieces):
    se = make(position_encoding)
    x = torch.randn(2, 6, 10, 4, 3)
    with torch.no_grad(), stream(StreamState()):
        out = stream_in_pieces(se, x, clip_pieces(10, pieces, seed=2))
    torch.testing.assert_close(out, causal_se_reference(se, x))


def test_position_encoding_changes_the_output_and_needs_causal():
    x = torch.randn(1, 6, 4, 3, 3)
    with torch.no_grad():
        with stream(StreamState()):
            plain = make(False)(x)
        with stream(StreamState()):
            encoded = make(True)(x)
    assert not torch.allclose(plain, encoded)
    with pytest.raises(ValueError, match='causal'):
        CausalSqueezeExcitation(6, 8, causal=False, position_encoding=True)


def test_base_se_gates_the_clip_once():
    se = make(False, causal=False)
    x = torch.randn(2, 6, 5, 3, 3)
    squeezed = x.mean(dim=(2, 3, 4))
    gate = se.gate(
        se.act(squeezed @ se.reduce.weight.flatten(1).T +
               se.reduce.bias) @ se.expand.weight.flatten(1).T + se.expand.bias)
    torch.testing.assert_close(se(x), x * gate[..., None, None, None])


def test_registered_and_checks_channels():
    se = MODELS.build(dict(type='CausalSqueezeExcitation', channels=4, hidden_channels=8))
    with pytest.raises(ValueError, match=r'\(N, 4, T, H, W\)'):
        se(torch.randn(1, 3, 1, 2, 2))
