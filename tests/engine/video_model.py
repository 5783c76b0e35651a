"""A tiny mmengine model and frame dataset for the engine tests: one SkipConv2d, one dense
conv."""
from typing import List, Optional, Sequence

import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import nn

from mmeff.layers import SkipConv2d


class TinyVideoModel(BaseModel):
    """(N, 1, H, W) frames -> a SkipConv2d (1 -> 2, 3x3, exact 4x4-block norm gate) -> a dense
    1x1 conv (2 -> 1). ``predict`` stores each frame's output in its sample's ``output``."""

    def __init__(self):
        super().__init__()
        self.skip = SkipConv2d(1, 2, 3, padding=1, gate=dict(type='InputNormGate', threshold=0.0,
                                                             block_size=4))
        self.head = nn.Conv2d(2, 1, 1)

    def forward(self, inputs: List[torch.Tensor], data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        out = self.head(self.skip(torch.stack(inputs)))
        if mode == 'tensor':
            return out
        for sample, frame in zip(data_samples, out):
            sample.set_field(frame.clone(), 'output')
        return data_samples


def frame_dataset(frames: Sequence[torch.Tensor],
                  stream_keys: Optional[Sequence[Optional[str]]] = None) -> List[dict]:
    """Samples ``dict(inputs=frame, data_samples=...)``, tagged with ``stream_key`` where given."""
    keys = stream_keys or [None] * len(frames)
    return [
        dict(inputs=frame,
             data_samples=BaseDataElement(metainfo={} if key is None else dict(stream_key=key)))
        for frame, key in zip(frames, keys)
    ]
