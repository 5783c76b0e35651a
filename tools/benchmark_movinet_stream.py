"""Per-frame cost of MoViNet streaming vs re-running a sliding window of the last T frames.

    python tools/benchmark_movinet_stream.py --arch a0 --windows 4 8 16 32 --size 172 --threads 2

The common alternative to streaming (mmaction2's ``demo/webcam_demo.py``) keeps a deque of the
last T frames and runs the whole clip model on it for every new frame. A stream model instead
takes one frame and its buffers; in inference its blocks and head run the per-frame ops
(``mmeff.ops.movinet_block_frame``, ``movinet_head_frame``), and streaming is also timed with
them off (``mmeff.action.frame_ops(False)``: layer by layer). All run the same causal model in
one process, after warm-up, alternating, repeated; medians and ratios are printed, one row per
window length T. Where the windows coincide (the first full window, frames 0..T-1, both
starting from an empty past) the predictions must be equal.
"""
import argparse
import statistics
import time
from typing import Dict, List

import torch
from mmengine.registry import init_default_scope

from mmeff.action import frame_ops
from mmeff.benchmark import Column, make_record, print_table, write_record
from mmeff.layers import StreamState
from mmeff.utils import fold_batchnorms

PROJECT = {'a0': 480, 'a1': 600, 'a2': 640}
COLUMNS = [
    Column('window', 'window T'),
    Column('stream_ms', 'streaming ms/frame', '.2f'),
    Column('layers_ms', 'layer by layer ms/frame', '.2f'),
    Column('window_ms', 'window ms/frame', '.2f'),
    Column('speedup', 'speed-up', '.1f'),
    Column('speedup_over_t', 'speed-up / T', '.2f'),
    Column('first_window_max_abs_diff', 'first-window max abs diff', '.1e'),
]
DESCRIPTION = (
    'Causal MoViNet-{arch} (random weights, BatchNorm {bn}), {size}x{size} frames, batch 1: one '
    'new frame streamed with its buffers (per-frame ops; and layer by layer) against re-running '
    'the whole clip model on the last T frames for every new frame (mmaction2\'s webcam-demo '
    'pattern). Medians of {repeats} alternating repeats x {frames} new frames. Speed-up = window '
    'time / streaming time; streaming is exact, so on the first full window both give the same '
    'scores.')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', default='a0', choices=sorted(PROJECT))
    parser.add_argument('--windows', type=int, nargs='+', default=[16],
                        help='T, frames per sliding window (one row each)')
    parser.add_argument('--size', type=int, default=172, help='frame height and width')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--frames', type=int, default=8, help='new frames timed per repeat')
    parser.add_argument('--keep-bn', action='store_true',
                        help='keep BatchNorm (default: fold it into the convs, for both methods)')
    parser.add_argument('--json', help='write the benchmark record (mmeff.benchmark) here')
    return parser.parse_args()


def build(arch: str) -> torch.nn.Module:
    init_default_scope('mmaction')
    from mmaction.registry import MODELS
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='MoViNetRecognizer', backbone=dict(type='MoViNet', arch=arch, causal=True),
            cls_head=dict(type='MoViNetHead', num_classes=600, in_channels=PROJECT[arch],
                          causal=True))).eval()


@torch.no_grad()
def measure_window(model: torch.nn.Module, t: int, size: int, repeats: int,
                   n: int) -> Dict[str, float]:
    """Streaming (frame ops on and off) vs a sliding window of ``t`` frames, ms per frame."""
    video = torch.randn(1, 3, t + 2 * n * (repeats + 1), size, size)

    def window_scores(end: int) -> torch.Tensor:  # the deque baseline: last T frames, fresh
        return model.predict_stream(video[:, :, end - t:end], StreamState())[:, -1]

    state = StreamState()
    streamed = torch.cat([model.predict_stream(video[:, :, i:i + 1], state) for i in range(t)], 1)
    coincide = (streamed[:, -1] - window_scores(t)).abs().max().item()
    times: Dict[str, List[float]] = dict(stream=[], layers=[], window=[])
    position = t
    for _ in range(repeats):
        for key, ops in (('stream', True), ('layers', False)):
            with frame_ops(ops):
                tic = time.perf_counter()
                for i in range(position, position + n):
                    model.predict_stream(video[:, :, i:i + 1], state)
                times[key].append(1000 * (time.perf_counter() - tic) / n)
            position += n
        tic = time.perf_counter()
        for i in range(position, position + n):
            window_scores(i + 1)
        times['window'].append(1000 * (time.perf_counter() - tic) / n)
    stream, layers, window = (statistics.median(times[k]) for k in ('stream', 'layers', 'window'))
    return dict(window=t, stream_ms=stream, layers_ms=layers, window_ms=window,
                speedup=window / stream, speedup_over_t=window / stream / t,
                frame_ops_speedup=layers / stream, first_window_max_abs_diff=coincide)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    model = build(args.arch)
    if not args.keep_bn:
        fold_batchnorms(model, include_3d=True)
    rows = [measure_window(model, t, args.size, args.repeats, args.frames) for t in args.windows]
    record = make_record(
        'movinet_stream', f'MoViNet-{args.arch.upper()} streaming vs a sliding window',
        DESCRIPTION.format(arch=args.arch.upper(), bn='kept' if args.keep_bn else 'folded',
                           size=args.size, repeats=args.repeats, frames=args.frames), COLUMNS, rows,
        threads=args.threads, settings=dict(arch=args.arch, size=args.size, repeats=args.repeats,
                                            frames=args.frames, keep_bn=args.keep_bn))
    print_table(record)
    if args.json:
        write_record(args.json, record)


if __name__ == '__main__':
    main()
