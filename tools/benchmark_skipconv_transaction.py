"""What an all-or-nothing frame costs a SkipConv model: HRNet-W32 on a video, per frame.

The model is a top-down HRNet (by default mmpose's stock HRNet-W32, 256x192 input; ``--config``
and ``--checkpoint`` pick trained weights, without a checkpoint the weights are random and the
BatchNorm statistics calibrated on the first frames), converted with
``mmeff.convert_to_skipconv`` (BatchNorm folded), its norm gates' thresholds set to
``--relative`` of each layer's window norm (``calibrate_norm_gates``, as
``benchmark_skipconv_video.py --relative`` does); the video is the synthetic top-down crop of
``benchmark_skipconv_video.py`` (a static camera, a walking figure, sensor noise). Three copies
of the converted model run the same frames, each on its own stream, timed alternately in one
process (2 threads, median of bursts after warm-up):

* ``no transaction``: every layer takes or rejects a frame on its own (``atomic=False``);
* ``undo log``: every call is one stream transaction (``atomic_frames``, the default of
  ``convert_to_skipconv``): the frame ops log the old values of what they overwrite;
* ``fork``: the cost of a transaction that copies the layers' state first (what
  ``stream_transaction`` did before the undo logs): ``StreamState.fork()``, then the frame on
  the copy, which replaces the stream.

Printed per copy: ms/frame, the ratio to ``no transaction``, and the bytes that a frame's
transaction copies (the undo logs' saved values, summed over the layers, averaged over the
frames; the whole state for ``fork``).

    python tools/benchmark_skipconv_transaction.py [--frames 32] [--gate InputNormGate]
        [--relative 0.05] [--block 8] [--channels-last] [--repeats 10]
        [--config CFG --checkpoint PATH]
        [--json out.json]
"""
import argparse
import copy
import os
import sys
import time
from typing import Callable, Dict, List

import torch

import mmeff
from mmeff.benchmark import Column, make_record, median_times, print_table, write_record
from mmeff.converters import calibrate_norm_gates
from mmeff.layers import StreamState, atomic_frames, stream, stream_transaction
from mmeff.utils import SyntheticVideoConfig

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchmark_skipconv_video as video_benchmark  # noqa: E402

COLUMNS = [
    Column('series', 'gate'),
    Column('setting', 'frames'),
    Column('transaction', 'transaction'),
    Column('ms', 'ms/frame', '.1f'),
    Column('ratio', 'x no transaction', '.3f'),
    Column('copied_mb', 'MB copied/frame', '.2f'),
]


class Stream:
    """One copy of the model on its own stream, fed the video's frames in a loop."""

    def __init__(self, model: torch.nn.Module, frames: torch.Tensor, fork: bool = False):
        self.model, self.frames, self.fork = model, frames, fork
        self.state, self.index = StreamState(), 0

    def step(self) -> torch.Tensor:
        """Run the next frame."""
        x = self.frames[self.index % len(self.frames)][None]
        self.index += 1
        state = self.state.fork() if self.fork else self.state
        with torch.no_grad(), stream(state):
            output = self.model(x, None, mode='tensor')
        self.state = state
        return output


def logged_bytes(model: torch.nn.Module, frames: torch.Tensor) -> float:
    """Mean bytes the undo logs of a transaction save per frame, over ``frames`` in order."""
    state, total = StreamState(), 0
    with torch.no_grad():
        with stream(state):
            model(frames[0][None], None, mode='tensor')
        for frame in frames[1:]:
            with stream_transaction(state):
                model(frame[None], None, mode='tensor')
                total += sum(e.undo.nbytes() for e in state.entries() if e.undo is not None)
    return total / max(len(frames) - 1, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=32)
    parser.add_argument('--gate', default='InputNormGate',
                        choices=['InputNormGate', 'OutputNormGate', 'ValueGate'])
    parser.add_argument('--relative', type=float, default=0.05,
                        help="the norm gates' thresholds, relative to each layer's window norm")
    parser.add_argument('--block', type=int, default=8, help='block size of the norm gates')
    parser.add_argument('--channels-last', action='store_true',
                        help='run the SkipConv copies and the frames in channels_last')
    parser.add_argument('--frame-size', type=int, nargs=2, default=(240, 320), metavar=('H', 'W'))
    parser.add_argument('--noise', type=float, default=0.01, help='sensor noise std (0: none)')
    parser.add_argument('--flicker', type=float, default=0.0, help='global brightness flicker')
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--config', default=video_benchmark.BASE,
                        help='top-down pose config of the model')
    parser.add_argument('--checkpoint', help='trained weights of --config')
    parser.add_argument('--json', help='write the results to this JSON file')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dense = video_benchmark.build_hrnet(args.config,
                                        video_benchmark.checkpoint_weights(args.checkpoint))
    video = SyntheticVideoConfig(frames=args.frames, height=args.frame_size[0],
                                 width=args.frame_size[1], noise_std=0., flicker=args.flicker,
                                 seed=0)
    _, (frames, ) = video_benchmark.topdown_video(video, dense, args.noise, (1, ))
    if not args.checkpoint:
        video_benchmark.calibrate_batchnorm(dense, frames[:8])
    gate = dict(type=args.gate)
    if args.gate != 'ValueGate':
        gate['block_size'] = args.block
    plain = mmeff.convert_to_skipconv(copy.deepcopy(dense), gate=gate, atomic=False)
    calibrate_norm_gates(plain, [frame[None] for frame in frames[:4]], args.relative,
                         lambda x: plain(x, None, mode='tensor'))
    if args.channels_last:  # the value gate's fast layout
        plain, frames = plain.to(memory_format=torch.channels_last), frames.contiguous(
            memory_format=torch.channels_last)
    atomic = atomic_frames(copy.deepcopy(plain))
    streams = {
        'no transaction': Stream(plain, frames),
        'undo log': Stream(atomic, frames),
        'fork': Stream(copy.deepcopy(plain), frames, fork=True),
    }
    steps: Dict[str, Callable[[], object]] = {name: s.step for name, s in streams.items()}
    start = time.perf_counter()
    times = median_times(steps, repeats=args.repeats, warmup=args.warmup)
    print(f'timed in {time.perf_counter() - start:.0f} s')
    copied = {
        'no transaction': 0.0,
        'undo log': logged_bytes(atomic, frames),
        'fork': float(streams['fork'].state.nbytes()),
    }
    series = f'{args.gate} {args.block}x{args.block}' if args.gate != 'ValueGate' else args.gate
    rows: List[dict] = [
        dict(series=series, setting=f'{args.frames} frames, relative {args.relative:g}',
             transaction=name, ms=times[name] * 1e3, ratio=times[name] / times['no transaction'],
             copied_mb=copied[name] / 2**20) for name in streams
    ]
    record = make_record(
        'skipconv_transaction', 'All-or-nothing SkipConv frames: cost per frame',
        'A top-down HRNet converted to SkipConv on the synthetic top-down video: per-frame '
        'time without a transaction, with the undo logs (the default) and with a fork of the '
        'state per frame.', COLUMNS, rows,
        settings=dict(frames=args.frames, gate=args.gate, relative=args.relative, block=args.block,
                      channels_last=args.channels_last, repeats=args.repeats, config=args.config,
                      checkpoint=args.checkpoint or 'random'), threads=args.threads)
    print_table(record)
    if args.json:
        write_record(args.json, record)


if __name__ == '__main__':
    main()
