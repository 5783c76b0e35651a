"""RoutingTemperatureHook anneals every softmax router's temperature linearly."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.registry import HOOKS
from torch import nn

from mmeff.engine import RoutingTemperatureHook, linear_temperature
from mmeff.layers import CondConv2d, CondConvRouter


def test_linear_temperature_end_points_and_midpoint():
    assert linear_temperature(30.0, 1.0, 0.0) == 30.0
    assert linear_temperature(30.0, 1.0, 0.5) == pytest.approx(15.5)
    assert linear_temperature(30.0, 1.0, 1.0) == 1.0
    assert linear_temperature(30.0, 1.0, 3.0) == 1.0  # clamped
    assert linear_temperature(30.0, 1.0, -1.0) == 30.0


def runner_at(model, iteration, max_iters):
    return SimpleNamespace(model=model, iter=iteration, max_iters=max_iters,
                           message_hub=MessageHub.get_instance('test_routing_hook'))


def test_schedule_over_anneal_iters_then_constant():
    softmax = CondConv2d(4, 4, 3, padding=1, num_experts=3, routing='softmax', temperature=30.0)
    sigmoid = CondConv2d(4, 4, 1, num_experts=3)
    shared = CondConvRouter(4, 3, gate='softmax', temperature=30.0)
    model = nn.ModuleList([softmax, sigmoid, shared])
    hook = HOOKS.build(dict(type='RoutingTemperatureHook', start=30.0, end=1.0, anneal_iters=10))
    seen = []
    for iteration in range(15):
        runner = runner_at(model, iteration, 100)
        hook.before_train_iter(runner, iteration)
        seen.append(softmax.router.temperature)
        assert shared.temperature == softmax.router.temperature
        assert runner.message_hub.get_scalar('train/routing_temperature').current() == seen[-1]
    assert seen[:11] == pytest.approx([30.0 - 2.9 * i for i in range(11)])
    assert seen[11:] == [1.0] * 4
    assert sigmoid.router.temperature == 1.0  # sigmoid routers are left alone


def test_default_anneals_over_the_whole_run():
    router = CondConvRouter(2, 2, gate='softmax')
    hook = RoutingTemperatureHook(start=5.0, end=1.0)
    temperatures = []
    for iteration in range(5):
        hook.before_train_iter(runner_at(router, iteration, 5), iteration)
        temperatures.append(router.temperature)
    assert temperatures == pytest.approx([5.0, 4.0, 3.0, 2.0, 1.0])


def test_annealed_temperature_flattens_the_routing():
    router = CondConvRouter(3, 4, gate='softmax', temperature=30.0)
    x = torch.randn(2, 3, 5, 5)
    hot, cold = router(x), None
    router.temperature = 1.0
    cold = router(x)
    torch.testing.assert_close(hot.sum(1), torch.ones(2))
    assert (hot - 0.25).abs().max() < (cold - 0.25).abs().max()


def test_errors():
    with pytest.raises(RuntimeError, match='no softmax CondConvRouter'):
        RoutingTemperatureHook().before_train_iter(runner_at(CondConv2d(2, 2, 1), 0, 2), 0)
    with pytest.raises(ValueError, match='0 < end <= start'):
        RoutingTemperatureHook(start=1.0, end=2.0)
    with pytest.raises(ValueError, match='anneal_iters'):
        RoutingTemperatureHook(anneal_iters=0)
    with pytest.raises(ValueError, match='temperature must be > 0'):
        CondConvRouter(2, 2, gate='softmax', temperature=0.0)
