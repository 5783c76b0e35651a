"""Per-forward MAC counts of every 2-D convolution of a model (dense or SkipConv)."""
from typing import List

from torch import nn

from ..layers import SkipConv2d
from ..ops import dense_conv_macs


class ConvMacMeter:
    """Counts the MACs of every ``nn.Conv2d`` of ``model`` through forward hooks.

    ``dense`` is what the convolutions cost computed densely, ``executed`` what ran: a
    ``SkipConv2d`` reports its own per-frame counters, any other conv counts as dense. Only
    ``nn.Conv2d`` (and subclasses) are counted; other layers (transposed convs, linear layers,
    attention) are not. Use as a context manager, :meth:`reset` before each frame::

        with ConvMacMeter(model) as meter:
            meter.reset()
            model(frame)
            print(meter.dense, meter.executed)
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.dense = 0
        self.executed = 0
        self._handles: List = []

    def _count(self, module: nn.Conv2d, inputs, output) -> None:
        if isinstance(module, SkipConv2d):
            self.dense += module.dense_macs
            self.executed += module.executed_macs
        else:
            macs = dense_conv_macs(module.weight, (output.shape[0], *output.shape[-2:]))
            self.dense += macs
            self.executed += macs

    def reset(self) -> None:
        self.dense = 0
        self.executed = 0

    def __enter__(self) -> 'ConvMacMeter':
        self._handles = [m.register_forward_hook(self._count) for m in self.model.modules()
                         if isinstance(m, nn.Conv2d)]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
