"""SkipConv2d: exactness at threshold 0, no drift, stream isolation, bad input."""
import pytest
import torch
import torch.nn.functional as F

import mmeff
from mmeff.layers import SkipConv2d, StreamState, reset_streams, stream


def dense(conv, x):
    return F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation,
                    conv.groups)


def make_video(n_frames, shape, seed=0, dtype=torch.float32):
    """Frames with static stretches, local moving patches, and occasional global changes."""
    g = torch.Generator().manual_seed(seed)
    frame = torch.randn(*shape, generator=g, dtype=dtype)
    frames = []
    h, w = shape[-2:]
    for t in range(n_frames):
        frame = frame.clone()
        kind = t % 5
        if kind == 1:  # a small moving patch
            y, x = (3 * t) % max(h - 4, 1), (5 * t) % max(w - 4, 1)
            frame[..., y:y + 4, x:x + 4] += torch.randn(*frame[..., y:y + 4, x:x + 4].shape,
                                                        generator=g, dtype=dtype)
        elif kind == 2:  # a single-pixel change
            frame[..., t % h, (7 * t) % w] += 0.5
        elif kind == 3:  # global sensor noise
            frame += 1e-3 * torch.randn(*shape, generator=g, dtype=dtype)
        # kind 0 and 4: static frame
        frames.append(frame)
    return frames


CONFIGS = [
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=1),
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=1, bias=False),
    dict(in_channels=4, out_channels=8, kernel_size=3, stride=2, padding=1),
    dict(in_channels=6, out_channels=6, kernel_size=3, padding=1, groups=6),
    dict(in_channels=4, out_channels=4, kernel_size=3, padding=2, dilation=2, groups=2),
    dict(in_channels=5, out_channels=3, kernel_size=1),
    dict(in_channels=3, out_channels=4, kernel_size=(3, 5), stride=(2, 1), padding=(0, 2)),
]


@pytest.mark.parametrize('cfg', CONFIGS)
@pytest.mark.parametrize('block_size', [1, 2, 4, 8])
@pytest.mark.parametrize('gate', ['InputNormGate', 'OutputNormGate'])
@pytest.mark.parametrize('reference', ['accumulated', 'previous'])
def test_threshold_zero_equals_dense_on_every_frame(cfg, block_size, gate, reference):
    torch.manual_seed(0)
    conv = SkipConv2d(**cfg, gate=dict(type=gate, threshold=0.0, block_size=block_size),
                      reference=reference).eval()
    executed = []
    for x in make_video(32, (2, cfg['in_channels'], 19, 22)):
        torch.testing.assert_close(conv(x), dense(conv, x), rtol=1e-5, atol=1e-5)
        executed.append(conv.executed_macs / conv.dense_macs)
    assert executed[0] == 1.0  # key frame
    assert min(executed) == 0.0  # static frames recompute nothing
    assert 0 < sorted(executed)[len(executed) // 2] < 1  # local changes recompute some blocks


@pytest.mark.parametrize('cfg', CONFIGS)
def test_value_gate_at_threshold_zero_equals_dense_on_every_frame(cfg):
    torch.manual_seed(0)
    conv = SkipConv2d(**cfg, gate=dict(type='ValueGate', threshold=0.0)).eval()
    executed = []
    for x in make_video(32, (2, cfg['in_channels'], 19, 22)):
        torch.testing.assert_close(conv(x), dense(conv, x), rtol=1e-5, atol=1e-5)
        executed.append(conv.executed_macs / conv.dense_macs)
    assert executed[0] == 1.0  # key frame
    assert min(executed) == 0.0  # static frames multiply nothing
    assert 0 < sorted(executed)[len(executed) // 2] < 0.5  # local changes: a few values


@pytest.mark.slow
def test_value_gate_does_not_drift_over_1000_frames():
    """Brightness ramp plus sensor noise: the error stays under the gate's bound, flat."""
    g = torch.Generator().manual_seed(1)
    base = torch.rand(1, 3, 24, 24, generator=g)
    layer = SkipConv2d(3, 8, 3, padding=1, gate=dict(type='ValueGate', threshold=0.02)).eval()
    bound = layer.gate.error_bound(layer.weight)
    errors, shares = [], []
    for t in range(1000):
        x = base + 0.001 * t + 0.002 * torch.randn(base.shape, generator=g)
        errors.append((layer(x) - dense(layer, x)).abs().max().item())
        shares.append(layer.executed_macs / layer.dense_macs)
    assert max(errors) <= bound * (1 + 1e-4) + 1e-5, (max(errors), bound)
    assert 0 < sum(shares[1:]) / 999 < 0.5  # the ramp fires values now and then, not all
    assert sum(errors[-100:]) / 100 <= 1.5 * sum(errors[100:200]) / 100 + 1e-6


@pytest.mark.parametrize('gate', ['InputNormGate', 'OutputNormGate'])
@pytest.mark.slow
def test_no_drift_over_1000_frames_while_previous_frame_mode_drifts(gate):
    """Slow global brightness ramp plus sensor noise at a positive threshold."""
    g = torch.Generator().manual_seed(1)
    base = torch.rand(1, 3, 24, 24, generator=g)
    threshold = 2.0 if gate == 'InputNormGate' else 0.5
    layers = {
        ref:
        SkipConv2d(3, 8, 3, padding=1, reference=ref, gate=dict(type=gate, threshold=threshold,
                                                                block_size=8)).eval()
        for ref in ('accumulated', 'previous')
    }
    layers['previous'].load_state_dict(layers['accumulated'].state_dict())
    bound = layers['accumulated'].gate.error_bound(layers['accumulated'].weight)
    errors = {ref: [] for ref in layers}
    fired = 0
    for t in range(1000):
        x = base + 0.001 * t + 0.002 * torch.randn(base.shape, generator=g)
        want = dense(layers['accumulated'], x)
        for ref, layer in layers.items():
            errors[ref].append((layer(x) - want).abs().max().item())
        fired += t > 0 and layers['accumulated'].executed_macs > 0
    acc, prev = errors['accumulated'], errors['previous']
    assert max(acc) <= bound * (1 + 1e-5), (max(acc), bound)
    assert fired > 0, 'the drift-free layer never refreshed: the test would not test anything'
    assert sum(acc[-100:]) / 100 <= 1.5 * sum(acc[100:200]) / 100 + 1e-6  # flat, not growing
    assert prev[-1] > bound and prev[-1] > 5 * prev[100]  # the published mode drifts


@pytest.mark.parametrize('gate', [
    dict(type='InputNormGate', threshold=0.5, block_size=4),
    dict(type='ValueGate', threshold=0.1)
])
def test_streams_are_isolated(gate):
    torch.manual_seed(0)
    conv = SkipConv2d(4, 6, 3, padding=1, gate=gate).eval()
    video_a = make_video(12, (1, 4, 16, 16), seed=1)
    video_b = make_video(12, (1, 4, 16, 16), seed=2)
    alone = {}
    for name, video in (('a', video_a), ('b', video_b)):
        with stream(StreamState()):
            alone[name] = [conv(x) for x in video]
    state_a, state_b = StreamState(), StreamState()
    for t in range(12):
        with stream(state_a):
            ya = conv(video_a[t])
        with stream(state_b):
            yb = conv(video_b[t])
        assert torch.equal(ya, alone['a'][t]) and torch.equal(yb, alone['b'][t])
    assert len(state_a) == 1 and len(state_b) == 1


@pytest.mark.parametrize(
    'gate', [dict(type='InputNormGate', threshold=0.3),
             dict(type='ValueGate', threshold=0.1)])
def test_nan_frame_is_rejected_and_the_stream_is_kept(gate):
    torch.manual_seed(0)
    conv = SkipConv2d(3, 4, 3, padding=1, gate=gate).eval()
    video = make_video(6, (1, 3, 16, 16))
    reference = SkipConv2d(3, 4, 3, padding=1, gate=gate).eval()
    reference.load_state_dict(conv.state_dict())
    for t, x in enumerate(video):
        if t == 3:
            bad = x.clone()
            bad[0, 0, 2, 2] = float('nan')
            with pytest.raises(ValueError, match='NaN or Inf'):
                conv(bad)
            bad[0, 0, 2, 2] = float('inf')
            with pytest.raises(ValueError, match='NaN or Inf'):
                conv(bad)
        assert torch.equal(conv(x), reference(x))


@pytest.mark.parametrize('change', ['resolution', 'batch', 'dtype'])
def test_frame_format_change_resets_the_stream(change):
    conv = SkipConv2d(3, 4, 3, padding=1, gate=dict(type='InputNormGate', threshold=1.0)).eval()
    x = torch.randn(1, 3, 16, 16)
    conv(x)
    conv(x)
    assert conv.executed_macs == 0
    if change == 'resolution':
        y = torch.randn(1, 3, 20, 12)
    elif change == 'batch':
        y = torch.randn(2, 3, 16, 16)
    else:
        conv.double()
        y = x.double()
    out = conv(y)
    assert conv.executed_macs == conv.dense_macs  # a key frame
    torch.testing.assert_close(out, dense(conv, y))


def test_train_eval_switch_leaves_no_stale_state():
    conv = SkipConv2d(3, 4, 3, padding=1, gate=dict(type='InputNormGate', threshold=10.0)).eval()
    x = torch.randn(1, 3, 16, 16)
    conv(x)
    with torch.no_grad():
        conv.weight.mul_(2)  # e.g. a training step changed the weights
    conv.train()
    conv.eval()
    torch.testing.assert_close(conv(x), dense(conv, x))
    assert conv.executed_macs == conv.dense_macs


def test_reset_streams_makes_the_next_frame_a_key_frame():
    model = torch.nn.Sequential(SkipConv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                                SkipConv2d(4, 4, 3, padding=1)).eval()
    x = torch.randn(1, 3, 16, 16)
    model(x)
    model(x)
    assert model[0].executed_macs == 0 and model[2].executed_macs == 0
    reset_streams(model)
    model(x)
    assert model[0].executed_macs == model[0].dense_macs
    assert model[2].executed_macs == model[2].dense_macs


def test_output_is_not_the_cache():
    """In-place ops after the conv (ReLU(inplace=True)) must not corrupt the cached output."""
    conv = SkipConv2d(3, 4, 3, padding=1).eval()
    x = torch.randn(1, 3, 12, 12)
    torch.relu_(conv(x))
    torch.testing.assert_close(conv(x), dense(conv, x))


def test_training_mode_is_a_dense_conv():
    conv = SkipConv2d(3, 4, 3, padding=1).train()
    x = torch.randn(2, 3, 12, 12, requires_grad=True)
    y = conv(x)
    torch.testing.assert_close(y, dense(conv, x))
    y.sum().backward()
    assert x.grad is not None and conv.weight.grad is not None


@pytest.mark.parametrize('kwargs,msg', [
    (dict(gate=dict(type='InputNormGate', threshold=-1.0)), 'threshold must be a number >= 0'),
    (dict(gate=dict(type='OutputNormGate', block_size=3)), 'block_size must be one of'),
    (dict(reference='paper'), 'reference must be one of'),
    (dict(stride=1.5), 'stride must be an int or a pair of ints'),
    (dict(gate=dict(type='ValueGate', threshold=-0.1)), 'threshold must be a number >= 0'),
    (dict(gate=dict(type='InputNormGate', threshold=float('nan'))), 'threshold must be a number'),
    (dict(gate=dict(type='ValueGate', threshold=True)), 'threshold must be a number'),
    (dict(gate=dict(type='InputNormGate', block_size=8.0)), 'block_size must be one of'),
    (dict(gate=dict(type='GumbelGate', block_size=True)), 'block_size must be one of'),
    (dict(gate=dict(type='ValueGate', dense_above=0)), 'dense_above must be in'),
    (dict(gate=dict(type='ValueGate'), reference='previous'), "needs reference='accumulated'"),
    (dict(padding='same'), 'zero padding given as integers'),
])
def test_bad_configuration_is_rejected(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        SkipConv2d(3, 4, 3, **kwargs)


def test_public_api_and_registry():
    from mmeff.registry import MODELS
    conv = MODELS.build(
        dict(type='SkipConv2d', in_channels=3, out_channels=4, kernel_size=3,
             gate=dict(type='OutputNormGate', threshold=0.1, block_size=4)))
    assert isinstance(conv, mmeff.SkipConv2d)
    assert conv.gate.error_bound(conv.weight) == 0.1


@pytest.mark.parametrize('keep', ['tensor', 'view'])
def test_outputs_kept_by_the_caller_stay_as_they_were(keep):
    conv = SkipConv2d(4, 6, 3, padding=1, gate=dict(type='InputNormGate', threshold=0.0,
                                                    block_size=4)).eval()
    video = make_video(10, (1, 4, 16, 16))
    kept = []
    for x in video:
        y = conv(x)
        kept.append(y if keep == 'tensor' else y[0])
        del y
    for x, y in zip(video, kept):
        torch.testing.assert_close(y,
                                   dense(conv, x)[0] if keep == 'view' else dense(conv, x),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('write', ['relu_', 'add_'])
def test_a_caller_writing_into_the_output_does_not_corrupt_the_stream(write):
    """An in-place ReLU or a residual ``+=`` on the output (as in ResNet/HRNet blocks): the
    caller gets a copy every frame, so the cache stays valid and later frames stay sparse."""
    conv = SkipConv2d(4, 6, 3, padding=1, gate=dict(type='InputNormGate', threshold=0.0,
                                                    block_size=4)).eval()
    executed = []
    for x in make_video(12, (1, 4, 16, 16)):
        y = conv(x)
        torch.testing.assert_close(y, dense(conv, x), rtol=1e-5, atol=1e-5)
        getattr(y, write)(*(() if write == 'relu_' else (1.0, )))
        executed.append(conv.executed_macs / conv.dense_macs)
    assert executed[0] == 1.0 and min(executed[1:]) < 1.0


def test_a_gate_that_is_not_a_skip_gate_is_a_type_error():
    with pytest.raises(TypeError, match='gate must build a SkipGate, got ReLU'):
        SkipConv2d(3, 4, 3, gate=dict(type='ReLU'))


@pytest.mark.parametrize('change', ['load_state_dict', 'in_place', 'bias'])
def test_changed_weights_restart_the_stream_with_a_log_line(change, monkeypatch):
    conv = SkipConv2d(4, 6, 3, padding=1, gate=dict(type='InputNormGate', threshold=0.0,
                                                    block_size=4)).eval()
    video = make_video(6, (1, 4, 16, 16))
    with torch.no_grad():
        for x in video[:3]:
            conv(x)
        if change == 'load_state_dict':
            conv.load_state_dict({k: v * 2 for k, v in conv.state_dict().items()})
        elif change == 'in_place':
            conv.weight.mul_(0.5)
        else:
            conv.bias.add_(1.0)
        logged = []
        monkeypatch.setattr('mmeff.layers.skip_conv2d.print_log',
                            lambda message, **kwargs: logged.append(message))
        y = conv(video[3])
    assert logged == ['SkipConv2d: the weights changed; the stream is reset']
    torch.testing.assert_close(y, dense(conv, video[3]), rtol=1e-5, atol=1e-5)
    assert conv.executed_macs == conv.dense_macs  # a key frame


def test_a_frame_of_another_dtype_is_refused_before_anything_is_logged_or_reset(monkeypatch):
    conv = SkipConv2d(4, 6, 3, padding=1).eval()
    video = make_video(3, (1, 4, 16, 16))
    with torch.no_grad():
        first = conv(video[0])
        logged = []
        monkeypatch.setattr('mmeff.layers.skip_conv2d.print_log',
                            lambda message, **kwargs: logged.append(message))
        with pytest.raises(ValueError, match='the frame is torch.float64 on cpu, the weight '
                           'torch.float32'):
            conv(video[1].double())
        assert not logged
        conv(video[1])
    assert conv.executed_macs < conv.dense_macs  # the stream went on from the first frame
    assert first.shape == (1, 6, 16, 16)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('gate', [
    dict(type='InputNormGate', threshold=0.0, block_size=4),
    dict(type='ValueGate', threshold=0.0)
], ids=['norm', 'value'])
def test_half_and_bfloat16_run_every_frame_through_the_references(dtype, gate):
    """One behaviour per dtype: the compiled kernels take float32/float64, other floating
    dtypes take the ops' references on every frame, whatever the mask density."""
    conv = SkipConv2d(4, 6, 3, padding=1, gate=gate).eval().to(dtype)
    atol = 0.05 if dtype == torch.bfloat16 else 5e-3
    with torch.no_grad():
        for x in make_video(8, (1, 4, 16, 16), dtype=dtype):
            torch.testing.assert_close(conv(x).float(), dense(conv, x).float(), rtol=0, atol=atol)
    assert conv.executed_macs < conv.dense_macs
