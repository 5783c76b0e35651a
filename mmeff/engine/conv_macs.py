"""Per-forward MAC counts of every 2-D convolution of a model (dense or SkipConv)."""
from typing import List, Set

from torch import nn

from ..layers import SkipConv2d
from ..ops import dense_conv_macs


class ConvMacMeter:
    """Counts the MACs of every ``nn.Conv2d`` of ``model`` through forward hooks.

    ``dense`` is what the model's convolutions cost computed densely, ``executed`` what ran: a
    ``SkipConv2d`` reports its own per-frame counters, any other conv counts as dense, and the
    convs inside SkipConv gates (``GumbelGate``) add to ``executed`` only (they are overhead
    the dense model does not have). Only
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
        self._gate_convs: Set[nn.Module] = set()

    def _count(self, module: nn.Conv2d, inputs, output) -> None:
        if isinstance(module, SkipConv2d):  # this call's counts (a layer may run per level)
            dense, executed = module.call_macs()
            self.dense += dense
            self.executed += executed
        else:
            macs = dense_conv_macs(module.weight, (output.shape[0], *output.shape[-2:]))
            self.dense += 0 if module in self._gate_convs else macs
            self.executed += macs

    def reset(self) -> None:
        self.dense = 0
        self.executed = 0

    def __enter__(self) -> 'ConvMacMeter':
        self._gate_convs = {conv for layer in self.model.modules() if isinstance(layer, SkipConv2d)
                            for conv in layer.gate.modules() if isinstance(conv, nn.Conv2d)}
        self._handles = [m.register_forward_hook(self._count) for m in self.model.modules()
                         if isinstance(m, nn.Conv2d)]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
