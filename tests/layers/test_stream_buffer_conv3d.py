"""StreamBufferConv3d: causal conv3d oracle, streaming == full clip, state contracts."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer

from mmeff.layers import StreamBufferConv3d, StreamState, reset_streams, stream
from mmeff.registry import MODELS
from tests.helpers import clip_pieces, requires_memory_measures, run_probe, stream_in_pieces

CASES = [  # kernel, stride, padding, dilation, groups
    ((3, 3, 3), 1, (1, 1, 1), 1, 1),
    ((5, 3, 3), (1, 2, 2), (0, 1, 1), 1, 6),
    ((3, 1, 1), 1, 0, (2, 1, 1), 2),
    ((1, 3, 3), 1, (0, 1, 1), 1, 1),
    ((3, 1, 1), 1, 0, (2, 1, 1), 6),  # temporal depthwise: the streamed fused-multiply-add path
]


def causal_conv3d_reference(x, conv):
    """The oracle: zero-pad time by d_t (k_t - 1) frames in front, then a plain conv3d."""
    past = conv.dilation[0] * (conv.kernel_size[0] - 1)
    padded = F.pad(x, (0, 0, 0, 0, past, 0))
    return F.conv3d(padded, conv.weight, conv.bias, conv.stride, (0, *conv.padding[1:]),
                    conv.dilation, conv.groups)


def make(case, seed=0):
    torch.manual_seed(seed)
    kernel, stride, padding, dilation, groups = case
    return StreamBufferConv3d(6, 6, kernel, stride=stride, padding=padding, dilation=dilation,
                              groups=groups)


@pytest.mark.parametrize('case', CASES, ids=lambda c: 'k{}x{}x{}'.format(*c[0]))
@pytest.mark.parametrize('pieces', ['whole', 'frames', 'random'])
def test_streaming_equals_causal_full_clip(case, pieces):
    conv = make(case)
    x = torch.randn(2, 6, 11, 9, 8)
    expected = causal_conv3d_reference(x, conv)
    with torch.no_grad(), stream(StreamState()):
        out = stream_in_pieces(conv, x, clip_pieces(11, pieces, seed=3))
    torch.testing.assert_close(out, expected)


def test_buffer_holds_last_frames_detached_and_gradients_match_the_reference():
    conv = make(CASES[0]).train()
    x = torch.randn(1, 6, 4, 5, 5, requires_grad=True)
    state = StreamState()
    with stream(state):
        conv(x).square().sum().backward()
    buffer = torch.cat(state.get(conv).frames, dim=2)
    assert buffer.shape == (1, 6, 2, 5, 5) and not buffer.requires_grad
    torch.testing.assert_close(buffer, x.detach()[:, :, -2:])
    grads = (x.grad.clone(), conv.weight.grad.clone())
    x.grad, conv.weight.grad = None, None
    causal_conv3d_reference(x, conv).square().sum().backward()
    torch.testing.assert_close(grads, (x.grad, conv.weight.grad))


@pytest.mark.parametrize('case', [CASES[0], CASES[-1]], ids=['conv3d', 'temporal-depthwise'])
def test_changing_a_streamed_frame_in_place_afterwards_leaves_the_stream_intact(case):
    conv = make(case)
    x = torch.randn(1, 6, 5, 7, 7)
    with torch.no_grad(), stream(StreamState()):
        outputs = []
        for t in range(5):
            frame = x[:, :, t:t + 1].clone()
            outputs.append(conv(frame))
            frame.fill_(1e3)  # the caller reuses its buffer
        torch.testing.assert_close(torch.cat(outputs, 2), causal_conv3d_reference(x, conv))


def test_streams_are_isolated_and_reset_clears_the_default_stream():
    conv = make(CASES[0]).eval()
    a, b = torch.randn(1, 6, 6, 5, 5), torch.randn(1, 6, 6, 5, 5)
    sa, sb = StreamState(), StreamState()
    with torch.no_grad():
        outs_a, outs_b = [], []
        for t in range(6):  # interleave two videos frame by frame
            with stream(sa):
                outs_a.append(conv(a[:, :, t:t + 1]))
            with stream(sb):
                outs_b.append(conv(b[:, :, t:t + 1]))
        torch.testing.assert_close(torch.cat(outs_a, 2), causal_conv3d_reference(a, conv))
        torch.testing.assert_close(torch.cat(outs_b, 2), causal_conv3d_reference(b, conv))
        conv(a)  # default stream
        assert conv.load_entry() is not None
        reset_streams(conv)
        assert conv.load_entry() is None
        torch.testing.assert_close(conv(b), causal_conv3d_reference(b, conv))


@pytest.mark.parametrize('bad, message', [
    (torch.randn(1, 5, 1, 5, 5), 'expected 6 channels'),
    (torch.randn(1, 6, 1, 6, 5), 'frame size'),
    (torch.randn(2, 6, 1, 5, 5), 'batch'),
    (torch.full((1, 6, 1, 5, 5), float('nan')), 'NaN'),
    (torch.randn(1, 6, 5, 5), r'\(N, C, T, H, W\)'),
])
def test_bad_input_is_rejected_and_the_stream_continues_unchanged(bad, message):
    conv = make(CASES[0]).eval()
    x = torch.randn(1, 6, 5, 5, 5)
    state = StreamState()
    with torch.no_grad(), stream(state):
        first = conv(x[:, :, :2])
        entry = state.get(conv)
        with pytest.raises(ValueError, match=message):
            conv(bad)
        assert state.get(conv) is entry
        rest = conv(x[:, :, 2:])
    torch.testing.assert_close(torch.cat([first, rest], 2), causal_conv3d_reference(x, conv))


def test_rejects_what_cannot_stream():
    with pytest.raises(ValueError, match='temporal stride'):
        StreamBufferConv3d(2, 2, 3, stride=2, padding=1)
    with pytest.raises(ValueError, match='temporal padding'):
        StreamBufferConv3d(2, 2, 3, padding=(2, 1, 1))


def test_registered_and_usable_as_conv_cfg():
    conv = MODELS.build(
        dict(type='StreamBufferConv3d', in_channels=3, out_channels=4, kernel_size=3, padding=1))
    assert isinstance(conv, StreamBufferConv3d) and conv.buffer_size == 2
    conv = build_conv_layer(dict(type='StreamBufferConv3d'), 3, 4, 3, padding=1)
    assert isinstance(conv, StreamBufferConv3d)


@pytest.mark.memory
@requires_memory_measures
def test_memory_is_constant_over_10000_frames():
    """A conv + causal SE stack streamed frame by frame: the state's bytes stay the same, the C
    heap's live bytes do not grow, and the process's peak RSS over 10,000 frames stays within 8 MiB
    of that over 100 (storing the frames, 4 KiB each, would add 40 MiB). Measured in a fresh
    process."""
    got = run_probe(Path(__file__).parent / 'probes' / 'stream_buffer_memory.py')
    assert got['state_bytes_after'] == got['state_bytes_before']
    assert got['frames'] == 10200
    assert got['heap_growth'] < 1 * 2**20
    # RSS moves in 2 MiB transparent huge pages and with the interpreter's arenas; a leak of a
    # fifth of a frame per frame (8 MiB over 10,000 frames) is the smallest this bound catches
    assert got['peak_growth'] <= 8 * 2**20
