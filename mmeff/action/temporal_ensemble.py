"""``TemporalEnsemble``: two recognizers at half frame rate, offset by one frame (MoViNet-style).

Member k sees frames k, k + 2, k + 4, ... of every clip; their logits are averaged before the
softmax. The members have separate parameters and the loss is the sum of their losses, so
training the ensemble trains each member independently, as in the paper.
"""
from dataclasses import dataclass
from typing import List, Optional

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModel
from torch import Tensor, nn

from ..layers import StreamState, StreamStateful
from ..layers.stream_state import stream_transaction


@dataclass(frozen=True)
class EnsembleStreamEntry:
    """What the ensemble keeps per stream: frames seen and each member's latest logits."""
    frames: int
    latest: tuple  # per member: (N, K) logits after its last frame, or None


@MODELS.register_module()
class TemporalEnsemble(StreamStateful, BaseModel):
    """Config-level wrapper: ``model = dict(type='TemporalEnsemble', models=[cfg0, cfg1],
    data_preprocessor=...)`` with two recognizers (e.g. ``MoViNetRecognizer``) of equal classes.

    Whole clips (N, num_clips, C, T, H, W) through ``forward`` in every mode; per-frame scores of
    a stream through :meth:`predict_stream` (members need ``predict_stream``, i.e. causal
    MoViNets): after frame t, the average of each member's logits after its latest frame.
    """

    def __init__(self, models: List[dict], data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor or dict(type='ActionDataPreprocessor'),
                         init_cfg=init_cfg)
        if len(models) != 2:
            raise ValueError(f'TemporalEnsemble needs exactly 2 models, got {len(models)}')
        self.members = nn.ModuleList(MODELS.build(cfg) for cfg in models)

    @property
    def cls_head(self) -> nn.Module:
        """The head that turns averaged logits into predictions (the first member's)."""
        return self.members[0].cls_head

    def member_logits(self, inputs: Tensor) -> List[Tensor]:
        """(N, num_clips, C, T, H, W) -> per member (N * num_clips, K) clip logits."""
        return [
            member(inputs[:, :, :, k::2], mode='tensor', stage='head')
            for k, member in enumerate(self.members)
        ]

    def forward(self, inputs: Tensor, data_samples=None, mode: str = 'tensor'):
        if inputs.shape[3] < 2:
            raise ValueError('TemporalEnsemble: clips need at least 2 frames, got '
                             f'{inputs.shape[3]}')
        if mode == 'loss':
            losses = {}
            for k, member in enumerate(self.members):
                member_losses = member(inputs[:, :, :, k::2], data_samples, mode='loss')
                losses.update({f'm{k}.{name}': value for name, value in member_losses.items()})
            return losses
        logits = torch.stack(self.member_logits(inputs)).mean(0)
        if mode == 'tensor':
            return logits
        if mode == 'predict':
            return self.cls_head.predict_by_feat(logits, data_samples)
        raise RuntimeError(f'TemporalEnsemble: invalid mode {mode!r}')

    def predict_stream(self, frames: Tensor, state: Optional[StreamState] = None) -> Tensor:
        """(N, C, T, H, W) -> (N, T, K) averaged logits after every frame (any T per call)."""
        state = state if state is not None else self.current_stream()
        with stream_transaction(state):
            entry: Optional[EnsembleStreamEntry] = self.load_entry()
            seen = 0 if entry is None else entry.frames
            latest = [None, None] if entry is None else list(entry.latest)
            per_member = []
            for k, member in enumerate(self.members):
                first = (k - seen) % 2  # index in this piece of member k's next frame
                piece = frames[:, :, first::2]
                per_member.append(member.predict_stream(piece) if piece.shape[2] else None)
            outputs = []
            for t in range(frames.shape[2]):
                k = (seen + t) % 2
                latest[k] = per_member[k][:, (t - (k - seen) % 2) // 2]
                available = [logits for logits in latest if logits is not None]
                outputs.append(torch.stack(available).mean(0))
            self.store_entry(EnsembleStreamEntry(seen + frames.shape[2], tuple(latest)))
            return torch.stack(outputs, dim=1)
