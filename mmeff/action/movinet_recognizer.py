"""``MoViNetRecognizer``: a Recognizer3D that takes whole clips or a stream of frames."""
from typing import Optional

from mmaction.models.recognizers import Recognizer3D
from mmaction.registry import MODELS
from torch import Tensor

from ..layers import StreamState, StreamStateful, stream
from ..layers.stream_state import stream_transaction


@MODELS.register_module()
class MoViNetRecognizer(StreamStateful, Recognizer3D):
    """``Recognizer3D`` for MoViNet (same config keys: backbone, cls_head, data_preprocessor).

    Whole clips (``forward`` in every mode, i.e. training, ``tools/train.py``, ``tools/test.py``):
    each call runs in a fresh stream, so a causal model sees each clip as a video of its own
    (causal zero padding, equal to streaming it from its first frame).

    Streams (:meth:`predict_stream`): feed a video in pieces of any length, one prediction per
    frame; the state lives in ``state`` or in the active ``mmeff.stream``, else in the model's
    default stream (``mmeff.reset_streams`` clears it).
    """

    def forward(self, inputs, data_samples=None, mode: str = 'tensor', **kwargs):
        with stream(StreamState()):
            return super().forward(inputs, data_samples, mode, **kwargs)

    def predict_stream(self, frames: Tensor, state: Optional[StreamState] = None) -> Tensor:
        """Class scores (logits) after every frame: (N, C, T, H, W) -> (N, T, K).

        ``frames`` are normalised like the data preprocessor's output (any T >= 1 per call).
        The call is all-or-nothing: a rejected input raises ValueError and leaves the stream as
        it was.
        """
        if not getattr(self.cls_head, 'causal', False):
            raise ValueError('MoViNetRecognizer.predict_stream needs a causal (stream) MoViNet '
                             'backbone and head')
        state = state if state is not None else self.current_stream()
        with stream_transaction(state):
            return self.cls_head.forward_frames(self.backbone(frames))
