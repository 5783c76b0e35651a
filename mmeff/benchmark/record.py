"""Benchmark records: the JSON every benchmark script writes and ``docs/benchmarks.md`` renders.

A record is one table of one benchmark::

    {
      "schema": 1,
      "benchmark": "sparse_conv2d",          # the section (and anchor) of the page
      "title": "...", "description": "...",  # Markdown
      "commands": ["python tools/benchmark_sparse_conv.py --repeats 25"],
      "environment": {"date", "cpu", "isa", "threads", "torch", "python", "mmeff_commit"},
      "settings": {...},                     # the script's arguments
      "columns": [{"key": "density", "header": "density", "format": ".3f"}, ...],
      "rows": [{"density": 0.1, ...}, ...]   # one value (or null) per column key
    }

Rows may hold more keys than the columns show (plots read them). Records of the same
benchmark, written by several runs of a script, are joined by :func:`merge_records`.
"""
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import torch

SCHEMA_VERSION = 1
REPO = Path(__file__).resolve().parents[2]
ENVIRONMENT_KEYS = ('date', 'cpu', 'isa', 'threads', 'torch', 'python', 'mmeff_commit')
_TOP_LEVEL = dict(schema=int, benchmark=str, title=str, description=str, commands=list,
                  environment=dict, settings=dict, columns=list, rows=list)


@dataclass(frozen=True)
class Column:
    """A table column: the row key it shows, its header and a format spec for numbers."""
    key: str
    header: str
    format: str = ''


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_isa() -> str:
    """The widest x86 vector extension the CPU reports: AVX-512, AVX2 or baseline."""
    try:
        flags = next((line.split(':', 1)[1].split()
                      for line in Path('/proc/cpuinfo').read_text().splitlines()
                      if line.startswith('flags')), [])
    except OSError:
        flags = []
    if 'avx512f' in flags:
        return 'AVX-512'
    return 'AVX2' if 'avx2' in flags else 'baseline'


def git_commit() -> Optional[str]:
    """The repository's short commit, with ``+changes`` when its code (the package, tools,
    configs or build) differs from that commit in the work tree."""
    try:
        commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO, check=True,
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run([
            'git', 'status', '--porcelain', '--untracked-files=no', '--', 'mmeff', 'tools',
            'configs', 'setup.py'
        ], cwd=REPO, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ('+changes' if dirty.strip() else '')


def bench_environment(threads: int) -> Dict[str, Any]:
    """Where and when a benchmark ran: date (UTC), CPU, vector ISA, threads, versions, commit."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return dict(date=now.isoformat(), cpu=cpu_model(), isa=cpu_isa(), threads=threads,
                torch=torch.__version__, python=platform.python_version(),
                mmeff_commit=git_commit())


def script_command(argv: Optional[Sequence[str]] = None) -> str:
    """The command line that ran this script, as a user would type it from the repository
    root, without the ``--json`` output argument."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    try:
        shown = str(script.relative_to(REPO))
    except ValueError:
        shown = argv[0]
    args, skip = [], False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg == '--json':
            skip = True
        elif not arg.startswith('--json='):
            args.append(arg)
    return ' '.join(shlex.quote(a) for a in ['python', shown, *args])


def make_record(benchmark: str, title: str, description: str, columns: Sequence[Column],
                rows: Sequence[Dict[str, Any]], settings: Dict[str, Any], threads: int,
                command: Optional[str] = None) -> Dict[str, Any]:
    """A validated record of this process's run (command and environment filled in)."""
    record = dict(schema=SCHEMA_VERSION, benchmark=benchmark, title=title, description=description,
                  commands=[command or script_command()], environment=bench_environment(threads),
                  settings=dict(settings), columns=[asdict(c)
                                                    for c in columns], rows=[dict(r) for r in rows])
    validate_record(record)
    return record


def validate_record(record: Any) -> None:
    """Raise ``ValueError`` naming the first way ``record`` breaks the schema."""
    if not isinstance(record, dict):
        raise ValueError(f'a benchmark record must be a JSON object, got {type(record).__name__}')
    for key, kind in _TOP_LEVEL.items():
        if key not in record:
            raise ValueError(f'benchmark record: missing key {key!r}')
        if not isinstance(record[key], kind):
            raise ValueError(f'benchmark record: {key!r} must be a {kind.__name__}, got '
                             f'{type(record[key]).__name__}')
    name = record['benchmark']
    if record['schema'] != SCHEMA_VERSION:
        raise ValueError(f'benchmark record {name!r}: schema {record["schema"]}, this mmeff reads '
                         f'schema {SCHEMA_VERSION}')
    if not name or not name.replace('_', '').isalnum():
        raise ValueError(f'benchmark record: name {name!r} must be letters, digits and _')
    if not record['commands'] or not all(isinstance(c, str) and c for c in record['commands']):
        raise ValueError(f'benchmark record {name!r}: commands must be non-empty strings')
    missing = [k for k in ENVIRONMENT_KEYS if k not in record['environment']]
    if missing:
        raise ValueError(f'benchmark record {name!r}: environment lacks {missing}')
    keys = []
    for column in record['columns']:
        if not isinstance(column, dict) or set(column) != {'key', 'header', 'format'}:
            raise ValueError(f'benchmark record {name!r}: a column must have exactly key, header '
                             f'and format, got {column!r}')
        keys.append(column['key'])
    if not keys:
        raise ValueError(f'benchmark record {name!r}: no columns')
    if not record['rows']:
        raise ValueError(f'benchmark record {name!r}: no rows')
    for index, row in enumerate(record['rows']):
        if not isinstance(row, dict):
            raise ValueError(f'benchmark record {name!r}: row {index} is not an object')
        absent = [k for k in keys if k not in row]
        if absent:
            raise ValueError(f'benchmark record {name!r}: row {index} lacks {absent}')
        for key in keys:
            value = row[key]
            if value is not None and not isinstance(value, (int, float, str)):
                raise ValueError(f'benchmark record {name!r}: row {index}, {key!r} must be a '
                                 f'number, a string or null, got {type(value).__name__}')


def write_record(path: str, record: Dict[str, Any]) -> None:
    """Validate and write ``record`` to ``path`` atomically (a temporary file, then a rename)."""
    validate_record(record)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_text(json.dumps(record, indent=1) + '\n')
    os.replace(tmp, path)


def load_record(path: str) -> Dict[str, Any]:
    """Read and validate a record; errors name the file."""
    try:
        record = json.loads(Path(path).read_text())
        validate_record(record)
    except (ValueError, OSError) as error:
        raise ValueError(f'{path}: {error}') from error
    return record


def merge_records(records: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """One record from several runs of the same benchmark: rows and commands in order; the
    first run's title, description, settings and environment (its date: the first run's)."""
    records = list(records)
    if not records:
        raise ValueError('merge_records: no records')
    first = records[0]
    for other in records[1:]:
        for key in ('benchmark', 'columns'):
            if other[key] != first[key]:
                raise ValueError(f'merge_records: {key} differ ({first[key]!r} and {other[key]!r})')
        if other['environment']['threads'] != first['environment']['threads']:
            raise ValueError(f'merge_records: runs of {first["benchmark"]!r} used different '
                             'thread counts')
    merged = dict(first, commands=[c for r in records for c in r['commands']],
                  rows=[row for r in records for row in r['rows']])
    validate_record(merged)
    return merged


def format_value(value: Any, spec: str) -> str:
    """A cell: ``-`` for null, numbers with ``spec`` (e.g. ``.2f``, ``.1%``), strings as is."""
    if value is None:
        return '-'
    if isinstance(value, (int, float)) and not isinstance(value, bool) and spec:
        return format(value, spec)
    return str(value)


def record_rows_as_text(record: Dict[str, Any]) -> List[List[str]]:
    """The header and the formatted cells of every row."""
    columns = record['columns']
    rows = [[c['header'] for c in columns]]
    for row in record['rows']:
        rows.append([format_value(row[c['key']], c['format']) for c in columns])
    return rows


def print_table(record: Dict[str, Any]) -> None:
    """The record's table on stdout, as aligned plain text."""
    rows = record_rows_as_text(record)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print('  '.join(cell.rjust(width) for cell, width in zip(row, widths)))
        if index == 0:
            print('  '.join('-' * width for width in widths))


def publish_record(record: Dict[str, Any], json_path: Optional[str]) -> None:
    """End of a benchmark script: the table on stdout after a blank line (below a progress
    bar), and the record written to ``json_path`` when one is given (``--json``)."""
    print()
    print_table(record)
    if json_path:
        write_record(json_path, record)
