"""Per-frame cost of MoViNet streaming vs re-running a sliding window of the last T frames.

    python tools/benchmark_movinet_stream.py --arch a0 --window 16 --size 172 --threads 2

The common alternative to streaming (mmaction2's ``demo/webcam_demo.py``) keeps a deque of the
last T frames and runs the whole clip model on it for every new frame. A stream model instead
takes one frame and its buffers; in inference its blocks and head run the per-frame ops
(``mmeff.ops.movinet_block_frame``, ``movinet_head_frame``), and streaming is also timed with
them off (``mmeff.action.frame_ops(False)``: layer by layer). All run the same causal model in
one process, after warm-up, alternating, repeated; medians and ratios are printed. Where the
windows coincide (the first full window, frames 0..T-1, both starting from an empty past) the
predictions must be equal.
"""
import argparse
import statistics
import time

import torch
from mmengine.logging import print_log
from mmengine.registry import init_default_scope

from mmeff.action import frame_ops
from mmeff.converters import fold_batchnorms
from mmeff.layers import StreamState

PROJECT = {'a0': 480, 'a1': 600, 'a2': 640}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', default='a0', choices=sorted(PROJECT))
    parser.add_argument('--window', type=int, default=16, help='T, frames per sliding window')
    parser.add_argument('--size', type=int, default=172, help='frame height and width')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--frames', type=int, default=8, help='new frames timed per repeat')
    parser.add_argument('--keep-bn', action='store_true',
                        help='keep BatchNorm (default: fold it into the convs, for both methods)')
    return parser.parse_args()


def build(arch: str) -> torch.nn.Module:
    init_default_scope('mmaction')
    from mmaction.registry import MODELS
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='MoViNetRecognizer',
        backbone=dict(type='MoViNet', arch=arch, causal=True),
        cls_head=dict(type='MoViNetHead', num_classes=600, in_channels=PROJECT[arch],
                      causal=True))).eval()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    model = build(args.arch)
    if not args.keep_bn:
        fold_batchnorms(model, include_3d=True)
    t, n = args.window, args.frames
    video = torch.randn(1, 3, t + 2 * n * (args.repeats + 1), args.size, args.size)

    def window_scores(end: int) -> torch.Tensor:  # the deque baseline: last T frames, fresh
        return model.predict_stream(video[:, :, end - t:end], StreamState())[:, -1]

    with torch.no_grad():
        state = StreamState()
        streamed = torch.cat([model.predict_stream(video[:, :, i:i + 1], state)
                              for i in range(t)], 1)
        coincide = (streamed[:, -1] - window_scores(t)).abs().max().item()
        stream_ms, layers_ms, window_ms = [], [], []
        position = t
        for _ in range(args.repeats):
            for times, ops in ((stream_ms, True), (layers_ms, False)):
                with frame_ops(ops):
                    tic = time.perf_counter()
                    for i in range(position, position + n):
                        model.predict_stream(video[:, :, i:i + 1], state)
                    times.append(1000 * (time.perf_counter() - tic) / n)
                position += n
            tic = time.perf_counter()
            for i in range(position, position + n):
                window_scores(i + 1)
            window_ms.append(1000 * (time.perf_counter() - tic) / n)
    stream_median, window_median = statistics.median(stream_ms), statistics.median(window_ms)
    layers_median = statistics.median(layers_ms)
    print_log(
        f'MoViNet-{args.arch.upper()} stream, {args.size}x{args.size}, T={t}, '
        f'{args.threads} threads, BatchNorm {"kept" if args.keep_bn else "folded"}, '
        f'{args.repeats} repeats x {n} frames (medians)\n'
        f'  streaming, 1 frame + buffers : {stream_median:8.2f} ms/frame\n'
        f'  streaming, layer by layer    : {layers_median:8.2f} ms/frame '
        f'(frame ops: {layers_median / stream_median:.2f}x)\n'
        f'  sliding window of {t} frames  : {window_median:8.2f} ms/frame\n'
        f'  speedup                      : {window_median / stream_median:8.2f}x '
        f'(T = {t}, 0.8 T = {0.8 * t:.1f})\n'
        f'  max |score difference| on the first full window: {coincide:.2e}',
        logger='current')


if __name__ == '__main__':
    main()
