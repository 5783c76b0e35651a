"""GumbelTemperatureHook anneals every GumbelGate's temperature exponentially."""
from types import SimpleNamespace

import pytest
from mmengine.logging import MessageHub
from torch import nn

from mmeff.engine import GumbelTemperatureHook, annealed_temperature
from mmeff.layers import GumbelGate, SkipConv2d


def test_annealed_temperature_end_points_and_midpoint():
    assert annealed_temperature(1.0, 0.01, 0.0) == 1.0
    assert annealed_temperature(1.0, 0.01, 1.0) == pytest.approx(0.01)
    assert annealed_temperature(1.0, 0.01, 0.5) == pytest.approx(0.1)
    assert annealed_temperature(1.0, 0.01, 2.0) == pytest.approx(0.01)  # clamped


def test_hook_sets_every_gate():
    model = nn.Sequential(
        *[SkipConv2d(2, 2, 3, padding=1, gate=dict(type='GumbelGate')) for _ in range(2)])
    hook = GumbelTemperatureHook(start=1.0, end=0.1)
    runner = SimpleNamespace(model=model, iter=10, max_iters=11,
                             message_hub=MessageHub.get_instance('test_gumbel_hook'))
    hook.before_train_iter(runner, 10)
    assert [m.temperature for m in model.modules() if isinstance(m, GumbelGate)] == \
        pytest.approx([0.1, 0.1])
    with pytest.raises(RuntimeError, match='no GumbelGate'):
        hook.before_train_iter(
            SimpleNamespace(model=nn.Conv2d(1, 1, 1), iter=0, max_iters=2,
                            message_hub=runner.message_hub), 0)
    with pytest.raises(ValueError):
        GumbelTemperatureHook(start=0.1, end=1.0)
