"""SamplingTemperatureHook: the schedule 1 -> 0.03 and the temperature's checkpoint round trip."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.registry import HOOKS
from torch import nn

from mmeff.engine import SamplingTemperatureHook
from mmeff.layers import SamplingMaskHead


def heads_model():
    return nn.Sequential(SamplingMaskHead(3), nn.Conv2d(3, 3, 1), SamplingMaskHead(3, stride=2))


def temperatures(model):
    return [m.temperature.item() for m in model.modules() if isinstance(m, SamplingMaskHead)]


def test_schedule_falls_from_one_to_end_over_the_run():
    model = heads_model()
    hook = HOOKS.build(dict(type='SamplingTemperatureHook'))
    assert isinstance(hook, SamplingTemperatureHook)
    hub = MessageHub.get_instance('test_sampling_temperature_hook')
    seen = []
    for it in range(100):
        hook.after_train_iter(SimpleNamespace(model=model, iter=it, max_iters=100, message_hub=hub),
                              it)
        seen.append(temperatures(model))
    assert all(a == b for a, b in seen)  # every head alike
    first, middle, last = seen[0][0], seen[49][0], seen[-1][0]
    assert first == pytest.approx(0.03**0.01, rel=1e-6)
    assert middle == pytest.approx(0.03**0.5, rel=1e-6)
    assert last == pytest.approx(0.03, rel=1e-6)
    assert all(a[0] > b[0] for a, b in zip(seen, seen[1:]))
    assert hub.get_scalar('train/sampling_temperature').current() == pytest.approx(0.03)


def test_temperature_survives_a_checkpoint_round_trip(tmp_path):
    model = heads_model()
    hook = SamplingTemperatureHook(start=1.0, end=0.05)
    hub = MessageHub.get_instance('test_sampling_temperature_roundtrip')
    hook.after_train_iter(SimpleNamespace(model=model, iter=29, max_iters=60, message_hub=hub), 29)
    path = tmp_path / 'model.pth'
    torch.save(model.state_dict(), path)
    restored = heads_model()
    assert temperatures(restored) == [1.0, 1.0]
    restored.load_state_dict(torch.load(path, weights_only=True))
    assert temperatures(restored) == temperatures(model) == pytest.approx([0.05**0.5] * 2)


def test_refuses_models_without_heads_and_bad_schedules():
    hub = MessageHub.get_instance('test_sampling_temperature_errors')
    with pytest.raises(RuntimeError, match='no SamplingMaskHead'):
        SamplingTemperatureHook().after_train_iter(
            SimpleNamespace(model=nn.Conv2d(1, 1, 1), iter=0, max_iters=2, message_hub=hub), 0)
    with pytest.raises(ValueError, match='need 0 < end <= start'):
        SamplingTemperatureHook(start=0.1, end=1.0)
