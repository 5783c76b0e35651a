"""``MoViNetHead``: pooled features -> hidden layer -> class scores, per clip or per frame."""
from typing import Optional

from mmaction.models.heads import BaseHead
from mmaction.registry import MODELS
from mmcv.cnn import build_activation_layer
from torch import Tensor, nn

from ..layers import CumulativeAvgPool3d
from ..layers.cumulative_avg_pool3d import RunningSum
from ..ops import movinet_head_frame
from ..ops.movinet_block_frame import ACTIVATIONS
from .movinet_frame import activation_name, streams_frame_ops


@MODELS.register_module()
class MoViNetHead(BaseHead):
    """MoViNet classifier: global pooling, Linear(in, hidden) + act + dropout, Linear(hidden, K).

    Args:
        num_classes: K.
        in_channels: channels of the backbone output (its projection width).
        hidden_channels: classifier hidden width (2048 for A0-A5).
        causal: pool with a running mean over all frames of the stream
            (:class:`CumulativeAvgPool3d`, per-stream state) instead of one global average.
        act_cfg: hidden activation; None: HSwish if causal else Swish.
        dropout_ratio: dropout before the last layer.
        **kwargs: ``BaseHead`` arguments (loss_cls, label_smooth_eps, topk, average_clips, ...).

    ``forward``: (N, C, T, H, W) -> (N, K), the scores of the clip (causal: of its last frame,
    which has seen every frame). ``forward_frames``: (N, C, T, H, W) -> (N, T, K), causal only.
    """

    def __init__(self, num_classes: int, in_channels: int, hidden_channels: int = 2048,
                 causal: bool = False, act_cfg: Optional[dict] = None, dropout_ratio: float = 0.2,
                 **kwargs):
        super().__init__(num_classes, in_channels, **kwargs)
        self.causal = causal
        self.pool = CumulativeAvgPool3d(in_channels) if causal else None
        self.hidden = nn.Linear(in_channels, hidden_channels)
        self.act = build_activation_layer(act_cfg or dict(type='HSwish' if causal else 'Swish'))
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio > 0 else nn.Identity()
        self.fc_cls = nn.Linear(hidden_channels, num_classes)

    def classify(self, pooled: Tensor) -> Tensor:
        """(..., C) pooled features -> (..., K) scores."""
        return self.fc_cls(self.dropout(self.act(self.hidden(pooled))))

    def forward_frames(self, x: Tensor) -> Tensor:
        """Per-frame scores from the running mean: (N, C, T, H, W) -> (N, T, K).

        A single frame in inference runs :func:`mmeff.ops.movinet_head_frame` (one op, the
        same running mean in the pool's state)."""
        if not self.causal:
            raise ValueError('MoViNetHead.forward_frames needs causal=True (a stream model)')
        if x.shape[2] == 1 and streams_frame_ops(self):
            activation = activation_name(self.act)
            entry: Optional[RunningSum] = self.pool.load_entry()
            if activation in ACTIVATIONS and x.dim() == 5 and x.shape[1] == self.in_channels \
                    and (entry is None or entry.total.shape[0] == x.shape[0]):
                hidden, fc = self.hidden._parameters, self.fc_cls._parameters
                logits, total = movinet_head_frame(
                    x[:, :, 0], None if entry is None else entry.total.flatten(1).to(x.dtype),
                    0 if entry is None else entry.frames, hidden['weight'], hidden['bias'],
                    activation, fc['weight'], fc['bias'])
                self.pool.store_entry(
                    RunningSum(total[:, :, None, None, None],
                               1 if entry is None else entry.frames + 1))
                return logits[:, None]
        return self.classify(self.pool(x).flatten(3).squeeze(3).transpose(1, 2))

    def forward(self, x: Tensor, **kwargs) -> Tensor:
        if self.causal:
            return self.classify(self.pool(x)[:, :, -1].flatten(1))
        return self.classify(x.mean(dim=(2, 3, 4)))
