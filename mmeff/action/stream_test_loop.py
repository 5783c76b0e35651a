"""Streaming evaluation with mmaction2's ``tools/test.py``:
``test_cfg=dict(type='StreamingTestLoop')``.

Each test video (the clip the stock test pipeline samples) is fed to a ``MoViNetRecognizer`` in
pieces, frame by frame by default, in a stream of its own; the scores after its last frame are
the prediction, so the usual metrics (``AccMetric``) apply unchanged. Each data sample also gets
the streaming cost, which :class:`~mmeff.action.StreamCostMetric` reports.
"""
import time
from typing import List, Sequence, Tuple, Union

import torch
from mmaction.registry import LOOPS
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop
from torch import Tensor

from ..engine import PeakMemory
from ..layers import StreamState


def piece_lengths(frames: int, piece_frames: Union[int, str],
                  generator: torch.Generator) -> List[int]:
    """Split ``frames`` into consecutive pieces: all of ``piece_frames`` frames (the last may be
    shorter), or of random lengths 1..8 for ``'random'``."""
    if piece_frames == 'random':
        lengths: List[int] = []
        while sum(lengths) < frames:
            lengths.append(
                min(int(torch.randint(1, 9, (1, ), generator=generator)), frames - sum(lengths)))
        return lengths
    if not isinstance(piece_frames, int) or piece_frames < 1:
        raise ValueError(f"piece_frames must be a positive int or 'random', got {piece_frames!r}")
    return [min(piece_frames, frames - start) for start in range(0, frames, piece_frames)]


@LOOPS.register_module()
class StreamingTestLoop(TestLoop):
    """``TestLoop`` that streams every video through ``model.predict_stream``.

    Args:
        runner, dataloader, evaluator, fp16: as ``TestLoop``.
        piece_frames: frames per call, an int (1 = frame by frame) or 'random' (lengths 1..8).
        seed: seed of the random piece lengths.

    Adds to each data sample ``stream_ms_per_frame`` (wall time of the stream / frames),
    ``stream_peak_memory_mb`` (CUDA allocator peak, or the process's peak RSS on CPU, over the
    stream) and ``stream_state_mb`` (the stream's state after the last frame).
    """

    def __init__(self, runner, dataloader, evaluator, piece_frames: Union[int, str] = 1,
                 seed: int = 0, fp16: bool = False):
        super().__init__(runner, dataloader, evaluator, fp16=fp16)
        piece_lengths(1, piece_frames, torch.Generator())  # validate early
        self.piece_frames = piece_frames
        self.generator = torch.Generator().manual_seed(seed)

    def stream_video(self, model, clips: Tensor) -> Tuple[Tensor, dict]:
        """(num_clips, C, T, H, W), clips streamed side by side -> scores after the last frame
        (num_clips, K) and the cost of the stream."""
        state, frames = StreamState(), clips.shape[2]
        with PeakMemory(clips.device) as memory:
            start, elapsed = 0, 0.0
            for length in piece_lengths(frames, self.piece_frames, self.generator):
                tic = time.perf_counter()
                scores = model.predict_stream(clips[:, :, start:start + length], state)
                elapsed += time.perf_counter() - tic
                start += length
        peak = memory.peak_bytes
        return scores[:, -1], dict(stream_ms_per_frame=1000 * elapsed / frames,
                                   stream_peak_memory_mb=-1.0 if peak is None else peak / 2**20,
                                   stream_state_mb=state.nbytes() / 2**20)

    @torch.no_grad()
    def run_iter(self, idx: int, data_batch: Sequence[dict]) -> None:
        self.runner.call_hook('before_test_iter', batch_idx=idx, data_batch=data_batch)
        model = self.runner.model
        model = model.module if is_model_wrapper(model) else model
        data = model.data_preprocessor(data_batch, False)
        samples = data['data_samples']
        for clips, sample in zip(data['inputs'], samples):
            scores, cost = self.stream_video(model, clips)
            model.cls_head.predict_by_feat(scores, [sample])
            for key, value in cost.items():
                sample.set_field(value, key)
        self.evaluator.process(data_samples=samples, data_batch=data_batch)
        self.runner.call_hook('after_test_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=samples)
