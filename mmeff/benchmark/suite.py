"""Every benchmark at the settings the docs quote: ``bash tools/run.sh bench [quick|full]``.

    python -m mmeff.benchmark.suite [full|quick] [--only NAME ...] [--out DIR] [--page PATH]

``full`` (the default) runs each benchmark of :data:`BENCHMARKS` at the docs' settings,
training the synthetic checkpoints it measures once (cached, see
:mod:`mmeff.benchmark.checkpoints`), writes one JSON record per benchmark to ``docs/benchmarks/``
and renders ``docs/benchmarks.md`` from all records there. ``quick`` runs small versions of
the same benchmarks in a few minutes and writes to ``work_dirs/bench-quick/`` instead, so the
docs keep the full numbers. ``--only`` runs some benchmarks; the others' records are kept.
A benchmark that fails keeps its previous record; the suite goes on and exits non-zero.
"""
import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .record import REPO, load_record, merge_records, write_record


@dataclass(frozen=True)
class Checkpoint:
    """Weights a benchmark measures: a synthetic-data config trained once and cached."""
    task: str  # 'pose' or 'detection'
    config: str
    options: Tuple[str, ...] = ()

    def argv(self) -> List[str]:
        return ['-m', 'mmeff.benchmark.checkpoints', self.task, self.config, *self.options]

    def shown(self) -> str:
        """The command that prints the checkpoint's path, as a docs command names it."""
        return '$(' + ' '.join(shlex.quote(a) for a in ['python', *self.argv()]) + ')'


@dataclass(frozen=True)
class Run:
    """One command of a benchmark: a script under tools/ and its arguments. An argument
    ``{checkpoint}`` stands for the path of the benchmark's checkpoint."""
    script: str
    args: Tuple[str, ...]


@dataclass(frozen=True)
class Benchmark:
    name: str  # the record's ``benchmark``: its JSON file and its section of the page
    full: Tuple[Run, ...]
    quick: Tuple[Run, ...]
    checkpoint: Dict[str, Optional[Checkpoint]]  # mode -> weights, or None


def _runs(script: str, common: Sequence[str], *variants: Sequence[str]) -> Tuple[Run, ...]:
    return tuple(Run(script, tuple(common) + tuple(v)) for v in (variants or ((), )))


POSE_W32 = 'configs/pose/td-hm_hrnet-w32_1xb16-6e_synthetic-jhmdb-256x192.py'
POSE_TINY = 'configs/pose/td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'
DET_D0 = 'configs/efficientdet/efficientdet_effb0_bifpn_1xb8-24e_synthvid-128x128.py'
VALUE_GATE = ('--gate', 'ValueGate', '--channels-last', '--dense-above', '1')

BENCHMARKS: Tuple[Benchmark, ...] = (
    Benchmark(
        'sparse_conv2d', full=_runs('tools/benchmark_sparse_conv.py', ['--repeats', '25']),
        quick=_runs('tools/benchmark_sparse_conv.py', [
            '--repeats', '3', '--warmup', '1', '--densities', '0.1', '0.5', '--layers',
            '3x3 32->32', '1x1 256->64'
        ]), checkpoint=dict(full=None, quick=None)),
    Benchmark(
        'kgs_conv3d', full=_runs('tools/benchmark_kgs_conv3d.py', ['--repeats', '5']),
        quick=_runs('tools/benchmark_kgs_conv3d.py', [
            '--repeats', '2', '--warmup', '1', '--reductions', '2', '--layers', 'conv3a',
            'layer3.0.conv1'
        ]), checkpoint=dict(full=None, quick=None)),
    Benchmark(
        'delta_conv2d_frame', full=_runs('tools/benchmark_delta_conv.py',
                                         ['--layouts', 'NHWC', '--shares', '0.01', '0.1', '0.25']),
        quick=_runs('tools/benchmark_delta_conv.py',
                    ['--repeats', '3', '--warmup', '1', '--layouts', 'NHWC', '--shares', '0.1']),
        checkpoint=dict(full=None, quick=None)),
    Benchmark(
        'cond_conv2d', full=_runs('tools/benchmark_cond_conv2d.py', ['--repeats', '25']),
        quick=_runs('tools/benchmark_cond_conv2d.py', [
            '--repeats', '3', '--warmup', '1', '--layers', 'dw 5x5 672 @14',
            'project 1x1 1152->320 @7'
        ]), checkpoint=dict(full=None, quick=None)),
    Benchmark(
        'condconv_b0', full=_runs('tools/benchmark_condconv_b0.py', ['--repeats', '25']),
        quick=_runs('tools/benchmark_condconv_b0.py',
                    ['--repeats', '3', '--warmup', '1', '--experts', '4']),
        checkpoint=dict(full=None, quick=None)),
    Benchmark(
        'movinet_stream', full=_runs(
            'tools/benchmark_movinet_stream.py',
            ['--arch', 'a0', '--windows', '4', '8', '16', '32', '--size', '172', '--repeats', '9']),
        quick=_runs('tools/benchmark_movinet_stream.py', [
            '--arch', 'a0', '--windows', '4', '8', '16', '--size', '96', '--repeats', '3',
            '--frames', '4'
        ]), checkpoint=dict(full=None, quick=None)),
    Benchmark(
        'skipconv_video', full=_runs('tools/benchmark_skipconv_video.py', [
            '--config', POSE_W32, '--checkpoint', '{checkpoint}', '--frames', '60', '--flicker', '0'
        ], ['--block', '8', '--relative', '0.02'], ['--block', '8', '--relative', '0.05'],
                                     ['--block', '8', '--relative', '0.1'],
                                     ['--block', '8', '--relative', '0.2'],
                                     ['--block', '2', '--relative', '0.05'],
                                     ['--block', '2', '--relative', '0.1'],
                                     [*VALUE_GATE, '--relative', '0.02'],
                                     [*VALUE_GATE, '--relative', '0.04'],
                                     [*VALUE_GATE, '--relative', '0.05'],
                                     [*VALUE_GATE, '--relative', '0.1'],
                                     [*VALUE_GATE, '--relative', '0.05', '--fold-dense']),
        quick=_runs('tools/benchmark_skipconv_video.py', [
            '--config', POSE_TINY, '--checkpoint', '{checkpoint}', '--frames', '16', '--flicker',
            '0'
        ], ['--block', '4', '--relative', '0.05'], ['--block', '4', '--relative', '0.1'],
                    [*VALUE_GATE, '--relative', '0.05']),
        checkpoint=dict(full=Checkpoint('pose', POSE_W32, ('--height', '240', '--width', '320')),
                        quick=Checkpoint('pose', POSE_TINY))),
    Benchmark(
        'skipconv_transaction', full=_runs('tools/benchmark_skipconv_transaction.py', [
            '--config', POSE_W32, '--checkpoint', '{checkpoint}', '--frames', '24', '--repeats', '5'
        ], ['--gate', 'InputNormGate'], ['--gate', 'ValueGate', '--channels-last']),
        quick=_runs('tools/benchmark_skipconv_transaction.py', [
            '--config', POSE_TINY, '--checkpoint', '{checkpoint}', '--frames', '8', '--repeats', '2'
        ]),
        checkpoint=dict(full=Checkpoint('pose', POSE_W32, ('--height', '240', '--width', '320')),
                        quick=Checkpoint('pose', POSE_TINY))),
    Benchmark(
        'skipconv_detection',
        full=_runs('tools/benchmark_skipconv_detection.py',
                   ['--checkpoint', '{checkpoint}', '--thresholds', '0', '4', '16', '64']),
        quick=_runs('tools/benchmark_skipconv_detection.py',
                    ['--frames', '8', '--warmup', '2', '--thresholds', '0', '16']),
        checkpoint=dict(full=Checkpoint('detection', DET_D0), quick=None)),
    Benchmark(
        'sampling_interp',
        full=_runs('tools/benchmark_sampling_interp.py', ['--repeats', '15']), quick=_runs(
            'tools/benchmark_sampling_interp.py',
            ['--repeats', '3', '--warmup', '1', '--blocks', 'layer3.1', '--interp-maps', '1']),
        checkpoint=dict(full=None, quick=None)),
)
NAMES = tuple(b.name for b in BENCHMARKS)
DEFAULT_OUT = dict(full=REPO / 'docs' / 'benchmarks', quick=REPO / 'work_dirs' / 'bench-quick')


def checkpoint_path(checkpoint: Checkpoint) -> str:
    """Train (once) and return the checkpoint's path; the training log goes to stderr."""
    done = subprocess.run([sys.executable, *checkpoint.argv()], cwd=REPO, check=True,
                          stdout=subprocess.PIPE, text=True)
    return done.stdout.strip().splitlines()[-1]


def run_benchmark(benchmark: Benchmark, mode: str, out_dir: Path) -> Path:
    """Run every command of ``benchmark`` in ``mode``; write their merged record to
    ``out_dir/<name>.json`` (only once all runs passed) and return its path."""
    runs = getattr(benchmark, mode)
    checkpoint = benchmark.checkpoint[mode]
    path = checkpoint_path(checkpoint) if checkpoint else None
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, run in enumerate(runs):
            args = [path if a == '{checkpoint}' else a for a in run.args]
            shown = [
                checkpoint.shown() if a == '{checkpoint}' else shlex.quote(a) for a in run.args
            ]
            part = Path(tmp) / f'{index}.json'
            print(
                f'[bench] {benchmark.name} {index + 1}/{len(runs)}: python {run.script} ' +
                ' '.join(shown), flush=True)
            subprocess.run([sys.executable, run.script, *args, '--json',
                            str(part)], cwd=REPO, check=True)
            record = load_record(part)
            record['commands'] = [' '.join(['python', run.script, *shown])]
            records.append(record)
    target = out_dir / f'{benchmark.name}.json'
    write_record(target, merge_records(records))
    return target


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('mode', nargs='?', choices=['full', 'quick'], default='full')
    parser.add_argument('--only', nargs='+', choices=NAMES, help='run only these benchmarks')
    parser.add_argument(
        '--out', type=Path, help='folder of the JSON records (default: '
        'docs/benchmarks for full, work_dirs/bench-quick for quick)')
    parser.add_argument(
        '--page', type=Path, help='the rendered page (default: docs/'
        'benchmarks.md for full, <out>/benchmarks.md for quick)')
    args = parser.parse_args(argv)
    out = args.out or DEFAULT_OUT[args.mode]
    page = args.page or (REPO / 'docs' / 'benchmarks.md'
                         if args.out is None and args.mode == 'full' else out / 'benchmarks.md')
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    for benchmark in BENCHMARKS:
        if args.only and benchmark.name not in args.only:
            continue
        start = time.perf_counter()
        try:
            run_benchmark(benchmark, args.mode, out)
        except (subprocess.CalledProcessError, ValueError) as error:
            print(f'[bench] {benchmark.name} FAILED: {error}', file=sys.stderr, flush=True)
            failed.append(benchmark.name)
            continue
        print(f'[bench] {benchmark.name}: {time.perf_counter() - start:.0f} s', flush=True)
    from .report import render_page_file
    render_page_file(out, page)
    print(f'[bench] records in {out}, page {page}')
    if failed:
        print(f'[bench] failed: {", ".join(failed)}', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
