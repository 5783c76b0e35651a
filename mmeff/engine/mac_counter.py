"""Per-layer MAC accounting of a SkipConv model over a video."""
from dataclasses import dataclass, field
from typing import Dict, List

from torch import nn

from ..layers import SkipConv2d


@dataclass
class LayerMacs:
    """Dense and executed MACs of one layer, summed over the frames counted."""
    dense: int = 0
    executed: int = 0


@dataclass
class MacCounter:
    """Sums each SkipConv2d's per-frame MAC counters; call :meth:`update` after every frame.

    Example::

        counter = MacCounter.of(model)
        for frame in video:
            model(frame)
            counter.update()
        print(counter.format())
    """
    layers: Dict[str, SkipConv2d]
    totals: Dict[str, LayerMacs] = field(default_factory=dict)
    frames: int = 0

    @classmethod
    def of(cls, model: nn.Module) -> 'MacCounter':
        layers = {name: m for name, m in model.named_modules() if isinstance(m, SkipConv2d)}
        if not layers:
            raise ValueError('MacCounter: the model has no SkipConv2d layer; convert it first '
                             'with mmeff.convert_to_skipconv')
        return cls(layers=layers, totals={name: LayerMacs() for name in layers})

    def update(self) -> None:
        """Add the counters of the frame that just ran."""
        for name, layer in self.layers.items():
            self.totals[name].dense += layer.dense_macs
            self.totals[name].executed += layer.executed_macs
        self.frames += 1

    def gmacs_per_frame(self) -> Dict[str, float]:
        """Mean dense and executed GMACs per frame of the whole model."""
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
            rows.append(f'{name:<60}{t.dense / frames / 1e9:>10.4f}{t.executed / frames / 1e9:>10.4f}'
                        f'{share:>8.1%}')
        total = self.gmacs_per_frame()
        share = total['executed'] / total['dense'] if total['dense'] else 0.0
        header = f'{"layer":<60}{"dense":>10}{"executed":>10}{"share":>8}   (GMACs/frame)'
        return '\n'.join([header, f'{"total over " + str(self.frames) + " frames":<60}'
                          f'{total["dense"]:>10.4f}{total["executed"]:>10.4f}{share:>8.1%}'] + rows)
