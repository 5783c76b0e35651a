"""Render the benchmark page from the JSON records of :mod:`mmeff.benchmark.suite`.

    python -m mmeff.benchmark.report RECORDS_DIR PAGE

One section per benchmark, in the suite's order: what it measures, where and when it ran
(date, CPU, thread count, torch, commit), the exact commands, the table, and a plot where a
curve says more than the table (saved as PNG next to the records). A benchmark of the suite
without a record is listed as not measured, with the command that measures it.
"""
import argparse
import os
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .record import load_record, record_rows_as_text

HEADER = """# Benchmarks

Rendered by `python -m mmeff.benchmark.report` from the JSON records next to this page, which
`bash tools/run.sh bench` writes (every benchmark at the settings the docs quote; `bash
tools/run.sh bench --only NAME` reruns one). `bash tools/run.sh bench quick` runs small versions
in a few minutes and writes to `work_dirs/bench-quick/` instead. Each script times its fast
path and its baseline in one process, alternating, after warm-up, and reports medians of
repeats. The machines are shared and their absolute times drift between runs: read the ratios,
which are taken within one run.
"""


def markdown_table(record: dict) -> str:
    rows = record_rows_as_text(record)
    lines = ['| ' + ' | '.join(rows[0]) + ' |', '|' + '---|' * len(rows[0])]
    lines += [
        '| ' + ' | '.join(cell.replace('|', '\\|') for cell in row) + ' |' for row in rows[1:]
    ]
    return '\n'.join(lines)


def _figure():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt, plt.subplots(figsize=(6.4, 4.0), dpi=100)


def _save(plt, fig, ax, path: Path) -> None:
    """Grid, legend, and the figure written to ``path`` and closed."""
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_skipconv_video(record: dict, path: Path) -> None:
    """Keypoints within 2 px of dense against the executed MAC share, one line per gate."""
    plt, (fig, ax) = _figure()
    series: Dict[str, List[tuple]] = {}
    for row in record['rows']:
        series.setdefault(row['series'], []).append(
            (100 * row['mac_ratio'], 100 * row['keypoints_within_2px_all']))
    for name, points in series.items():
        xs, ys = zip(*sorted(points))
        ax.plot(xs, ys, marker='o', label=name)
    floors = [r['dense_vs_redrawn_noise_within_2px'] for r in record['rows']]
    ax.axhline(100 * sum(floors) / len(floors), color='gray', linestyle='--',
               label='dense vs re-drawn noise')
    ax.set_xlabel('executed MACs (% of dense)')
    ax.set_ylabel('keypoints within 2 px of dense (%)')
    ax.set_title('SkipConv gates: fidelity vs executed MACs')
    _save(plt, fig, ax, path)


def plot_movinet_stream(record: dict, path: Path) -> None:
    """Milliseconds per new frame against the window length T."""
    plt, (fig, ax) = _figure()
    rows = sorted(record['rows'], key=lambda r: r['window'])
    windows = [r['window'] for r in rows]
    for key, label in (('window_ms', 'sliding window of T frames'),
                       ('layers_ms', 'streaming, layer by layer'), ('stream_ms',
                                                                    'streaming, per-frame ops')):
        ax.plot(windows, [r[key] for r in rows], marker='o', label=label)
    ax.set_xlabel('window length T (frames)')
    ax.set_ylabel('ms per new frame')
    ax.set_title(record['title'])
    ax.set_xticks(windows)
    _save(plt, fig, ax, path)


def plot_sampling_interp_sweep(record: dict, path: Path) -> None:
    """mAP against executed backbone GMACs: SparseResNet per gamma, ResNet per input size."""
    plt, (fig, ax) = _figure()
    for model, style, label_key in (('SparseResNet', 'o-', 'gamma'), ('ResNet', 's--', 'input')):
        rows = sorted((r for r in record['rows'] if r['model'] == model),
                      key=lambda r: r['backbone_gmacs'])
        if not rows:
            continue
        xs, ys = [r['backbone_gmacs'] for r in rows], [r['map'] for r in rows]
        ax.plot(xs, ys, style, label=f'{model}, by {label_key}')
        for x, y, row in zip(xs, ys, rows):
            ax.annotate(str(row[label_key]), (x, y), textcoords='offset points', xytext=(4, 4),
                        fontsize=8)
    ax.set_xlabel('backbone GMACs per frame (executed)')
    ax.set_ylabel('COCO mAP')
    ax.set_title('Sampling-interpolation vs smaller inputs')
    _save(plt, fig, ax, path)


PLOTS: Dict[str, Callable[[dict, Path],
                          None]] = dict(skipconv_video=plot_skipconv_video,
                                        movinet_stream=plot_movinet_stream,
                                        sampling_interp_sweep=plot_sampling_interp_sweep)


def environment_line(record: dict) -> str:
    env = record['environment']
    commit = f', mmeff {env["mmeff_commit"]}' if env.get('mmeff_commit') else ''
    return (f'Measured {env["date"][:10]} on {env["cpu"]} ({env["isa"]}), {env["threads"]} '
            f'threads, torch {env["torch"]}, Python {env["python"]}{commit}.')


def render_section(record: dict, plot: Optional[str]) -> str:
    parts = [
        f'## {record["benchmark"]}', f'**{record["title"]}.** {record["description"]}',
        environment_line(record), '```bash\n' + '\n'.join(record['commands']) + '\n```',
        markdown_table(record)
    ]
    if plot:
        parts.append(f'![{record["title"]}]({plot})')
    return '\n\n'.join(parts)


def render_page(records: Dict[str, dict], plots: Dict[str, str], names: List[str]) -> str:
    """The page: the header, then one section per name (records first, missing ones last)."""
    sections = [HEADER.rstrip()]
    missing = [n for n in names if n not in records]
    for name in names + sorted(set(records) - set(names)):
        if name in records:
            sections.append(render_section(records[name], plots.get(name)))
    if missing:
        sections.append('## Not measured yet\n\n' +
                        '\n'.join(f'- `{n}`: `bash tools/run.sh bench --only {n}`'
                                  for n in missing))
    return '\n\n'.join(sections) + '\n'


def render_page_file(records_dir: Path, page: Path) -> None:
    """Render ``page`` from ``records_dir/*.json``; plots are written as PNG next to them."""
    from .suite import NAMES
    records_dir, page = Path(records_dir), Path(page)
    records = {}
    for path in sorted(records_dir.glob('*.json')):
        record = load_record(path)
        records[record['benchmark']] = record
    plots = {}
    for name, draw in PLOTS.items():
        if name in records:
            png = records_dir / f'{name}.png'
            draw(records[name], png)
            plots[name] = os.path.relpath(png, page.parent)
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render_page(records, plots, list(NAMES)))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('records', type=Path, help='folder of the JSON records')
    parser.add_argument('page', type=Path, help='the Markdown page to write')
    args = parser.parse_args(argv)
    render_page_file(args.records, args.page)


if __name__ == '__main__':
    main()
