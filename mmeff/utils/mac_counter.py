"""Conv MAC accounting of a model, per frame and per layer, dense, SkipConv or sampled.

:class:`MacCounter` counts every ``nn.Conv2d`` of a model. ``dense`` is what the convolutions
of a frame cost computed densely, ``executed`` what ran:

* a layer that reports its own counters (``dense_macs`` and ``executed_macs`` attributes:
  a ``SkipConv2d``, its last call at each ``mmeff.layers.call_site`` summed; mmeff.det's
  ``SparseBottleneck``, its last evaluation forward, sparse charges included) is read when the
  frame is closed, so it needs no hook and costs the forward nothing; the convs inside it are
  its own business and get no hook;
* any other conv counts as dense, through a forward hook, every call; a ``CondConv2d`` as its
  conv with the mixed kernel plus the mix (:func:`mmeff.utils.mixture_macs.cond_conv_macs`);
* the convs inside SkipConv gates (``GumbelGate``) add to ``executed`` only: they are overhead
  the dense model does not have.

Other layers (transposed convs, linear layers, attention) are not counted.
"""
from dataclasses import dataclass
from typing import Dict, List, Tuple

from torch import Tensor, nn

from ..layers import CondConv2d, SkipConv2d
from ..ops import dense_conv_macs
from .mixture_macs import cond_conv_macs

#: the layers counted through forward hooks
CONVS = (nn.Conv2d, CondConv2d)


@dataclass
class LayerMacs:
    """Dense and executed MACs of one layer (or a model), summed over the calls counted."""
    dense: int = 0
    executed: int = 0


def reports_own_macs(module: nn.Module) -> bool:
    """Whether ``module`` counts its own MACs (``dense_macs`` and ``executed_macs``)."""
    return hasattr(module, 'dense_macs') and hasattr(module, 'executed_macs')


def is_inside(name: str, parent: str) -> bool:
    """Whether the qualified module name ``name`` is ``parent`` or below it ('' is the root)."""
    return parent == '' or name == parent or name.startswith(parent + '.')


class MacCounter:
    """Counts the conv MACs of ``model`` (module doc) from construction until :meth:`close`.

    ``dense`` and ``executed`` are the MACs of the frame in progress: the SkipConv2d layers'
    counters and the other convs' calls since the last :meth:`update` or :meth:`reset`.
    :meth:`update` closes the frame and adds it to the per-layer ``totals`` (by qualified module
    name) and to ``frames``. Use it as a context manager to remove the hooks on exit::

        with MacCounter(model) as counter:
            for frame in video:
                model(frame)
                counter.update()
        print(counter.format())
    """

    def __init__(self, model: nn.Module):
        self._reporting: Dict[str, nn.Module] = {}  # outermost self-counting layers
        for name, module in model.named_modules():
            if reports_own_macs(module) and not any(
                    is_inside(name, outer) for outer in self._reporting):
                self._reporting[name] = module
        gate_convs = {
            conv
            for layer in self._reporting.values() if isinstance(layer, SkipConv2d)
            for conv in layer.gate.modules() if isinstance(conv, nn.Conv2d)
        }
        hooked = {
            name: m
            for name, m in model.named_modules() if isinstance(m, CONVS) and (
                m in gate_convs or not any(is_inside(name, r) for r in self._reporting))
        }
        self.totals: Dict[str, LayerMacs] = {name: LayerMacs() for name in self._reporting}
        self.totals.update({name: LayerMacs() for name in hooked})
        self.frames = 0
        self.last_frame: Dict[str, LayerMacs] = {}  # by layer, the last closed frame
        self._hooked: Dict[str, LayerMacs] = {}  # the other convs' calls of the frame
        self._handles = [
            conv.register_forward_hook(self._hook(name, conv in gate_convs))
            for name, conv in hooked.items()
        ]

    def _hook(self, name: str, is_gate_conv: bool):

        def count(module: nn.Module, inputs: Tuple, output: Tensor) -> None:
            if isinstance(module, CondConv2d):
                macs = sum(cond_conv_macs(module, output))
            else:
                macs = dense_conv_macs(module.weight, (output.shape[0], *output.shape[-2:]))
            frame = self._hooked.setdefault(name, LayerMacs())
            frame.dense += 0 if is_gate_conv else macs
            frame.executed += macs

        return count

    def frame_layers(self) -> Dict[str, LayerMacs]:
        """The MACs of the frame in progress, by layer."""
        frame = {
            name: LayerMacs(int(layer.dense_macs), int(layer.executed_macs))
            for name, layer in self._reporting.items()
        }
        frame.update(self._hooked)
        return frame

    @property
    def dense(self) -> int:
        """Dense MACs of the frame in progress."""
        return sum(m.dense for m in self.frame_layers().values())

    @property
    def executed(self) -> int:
        """Executed MACs of the frame in progress."""
        return sum(m.executed for m in self.frame_layers().values())

    def reset(self) -> None:
        """Forget the other convs' calls of the frame in progress (the totals stay)."""
        self._hooked = {}

    def update(self) -> LayerMacs:
        """Close the frame in progress: add it to the totals; return its MACs."""
        frame = LayerMacs()
        self.last_frame = self.frame_layers()
        for name, macs in self.last_frame.items():
            self.totals[name].dense += macs.dense
            self.totals[name].executed += macs.executed
            frame.dense += macs.dense
            frame.executed += macs.executed
        self.frames += 1
        self._hooked = {}
        return frame

    def has_part(self, part: str) -> bool:
        """Whether some counted layer lies under a module named ``part`` (e.g. 'backbone')."""
        return any(part in name.split('.') for name in self.totals)

    def last_frame_part(self, part: str) -> LayerMacs:
        """The MACs of the last closed frame in the layers under a module named ``part``
        (a component of their qualified names: 'backbone' finds 'backbone.layer1.0.conv1'
        and, under a DDP wrapper, 'module.backbone.conv1')."""
        macs = LayerMacs()
        for name, layer in self.last_frame.items():
            if part in name.split('.'):
                macs.dense += layer.dense
                macs.executed += layer.executed
        return macs

    def close(self) -> None:
        """Remove the hooks; the counts stay readable."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> 'MacCounter':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def gmacs_per_frame(self) -> Dict[str, float]:
        """Mean dense and executed GMACs per closed frame of the whole model."""
        frames = max(self.frames, 1)
        return dict(dense=sum(t.dense for t in self.totals.values()) / frames / 1e9,
                    executed=sum(t.executed for t in self.totals.values()) / frames / 1e9)

    def format(self, top: int = 0) -> str:
        """A text table: totals, then per layer (the ``top`` most expensive, or all)."""
        frames = max(self.frames, 1)
        rows: List[str] = []
        items = sorted(self.totals.items(), key=lambda kv: -kv[1].executed)
        for name, t in items[:top] if top else items:
            share = t.executed / t.dense if t.dense else 0.0
            rows.append(
                f'{name:<60}{t.dense / frames / 1e9:>10.4f}{t.executed / frames / 1e9:>10.4f}'
                f'{share:>8.1%}')
        total = self.gmacs_per_frame()
        share = total['executed'] / total['dense'] if total['dense'] else 0.0
        header = f'{"layer":<60}{"dense":>10}{"executed":>10}{"share":>8}   (GMACs/frame)'
        return '\n'.join([
            header, f'{"total over " + str(self.frames) + " frames":<60}'
            f'{total["dense"]:>10.4f}{total["executed"]:>10.4f}{share:>8.1%}'
        ] + rows)
