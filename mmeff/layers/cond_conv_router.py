"""``CondConvRouter``: per-sample expert weights from the globally pooled input."""
import torch
from torch import Tensor, nn

from ..registry import MODELS

#: The gates a router ends with: CondConv's independent sigmoids, or DynamicConv's softmax
#: over the experts (weights summing to 1) with a temperature.
ROUTER_GATES = ('sigmoid', 'softmax')


@MODELS.register_module()
class CondConvRouter(nn.Module):
    """Global average pooling, a linear layer to E logits, then a gate.

    ``gate='sigmoid'`` is CondConv's router (Yang et al., 2019): independent sigmoids, so
    the weights do not sum to 1. ``gate='softmax'`` is DynamicConv's attention (Chen et al.,
    2020) with a single linear layer: ``softmax(logits / temperature)``. DynamicConv starts
    with a large temperature (nearly uniform weights) that
    :class:`~mmeff.engine.RoutingTemperatureHook` anneals towards 1; the sigmoid gate ignores
    the temperature.

    One router can serve several convs: pass its output as their ``routing`` (an EfficientNet
    block shares one among its expand, depthwise and project convs).

    Args:
        in_channels: C of the input it pools.
        num_experts: E >= 1.
        gate: one of :data:`ROUTER_GATES`.
        temperature: the softmax temperature (> 0).

    Shape:
        (B, C, H, W) -> (B, E).
    """

    def __init__(self, in_channels: int, num_experts: int, gate: str = 'sigmoid',
                 temperature: float = 1.0):
        super().__init__()
        if num_experts < 1:
            raise ValueError(f'CondConvRouter: num_experts must be >= 1, got {num_experts}')
        if gate not in ROUTER_GATES:
            raise ValueError(f'CondConvRouter: gate must be one of {ROUTER_GATES}, got {gate!r}')
        self.gate = gate
        self.temperature = temperature
        self.fc = nn.Linear(in_channels, num_experts)

    @property
    def temperature(self) -> float:
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f'CondConvRouter: temperature must be > 0, got {value}')
        self._temperature = float(value)

    def forward(self, x: Tensor) -> Tensor:
        logits = self.fc(x.mean(dim=(2, 3)))
        if self.gate == 'sigmoid':
            return torch.sigmoid(logits)
        return torch.softmax(logits / self.temperature, dim=1)

    def extra_repr(self) -> str:
        return f'gate={self.gate!r}, temperature={self.temperature}'
