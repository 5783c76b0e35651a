"""mmeff.benchmark.timing: alternating medians and the conv timer."""
import argparse
import time

import torch
from torch import nn

from mmeff.benchmark import ConvTimer, add_timing_arguments, median_times


def test_median_times_time_each_function_alternately():
    calls = []
    times = median_times(
        dict(fast=lambda: calls.append('fast'), slow=lambda:
             (calls.append('slow'), time.sleep(0.002))), repeats=3, warmup=1, burst=2)
    assert calls.count('fast') == calls.count('slow') == 1 + 3 * 2
    assert times['slow'] > 0.0015 and times['fast'] < times['slow']


class Gated(nn.Conv2d):
    """A conv with a conv inside it (as SkipConv2d with a Gumbel gate): timed once."""

    def __init__(self):
        super().__init__(3, 3, 3, padding=1)
        self.gate = nn.Conv2d(3, 1, 1)

    def forward(self, x):
        time.sleep(0.003)
        return super().forward(x) * torch.sigmoid(self.gate(x))


def test_conv_timer_counts_the_outermost_convs_and_resets():
    model = nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU(), Gated())
    timer = ConvTimer(model)
    assert timer.layers == 2
    with torch.no_grad():
        model(torch.randn(1, 3, 8, 8))
    first = timer.take()
    assert first > 0.003 and timer.take() == 0.0
    timer.remove()
    with torch.no_grad():
        model(torch.randn(1, 3, 8, 8))
    assert timer.take() == 0.0


def test_add_timing_arguments_defaults_and_overrides():
    parser = argparse.ArgumentParser()
    add_timing_arguments(parser, repeats=15, warmup=3)
    args = parser.parse_args([])
    assert (args.threads, args.repeats, args.warmup, args.json) == (2, 15, 3, None)
    args = parser.parse_args(['--threads', '1', '--repeats', '4', '--warmup', '0', '--json', 'a'])
    assert (args.threads, args.repeats, args.warmup, args.json) == (1, 4, 0, 'a')
