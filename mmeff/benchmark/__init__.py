"""Benchmark support: alternating timing, the JSON records every benchmark script writes, the
suite behind ``bash tools/run.sh bench`` and the renderer of ``docs/benchmarks.md``."""
from .record import (SCHEMA_VERSION, Column, bench_environment, load_record, make_record,
                     merge_records, print_table, script_command, validate_record, write_record)
from .timing import ConvTimer, median_times

__all__ = [
    'SCHEMA_VERSION', 'Column', 'ConvTimer', 'bench_environment', 'load_record', 'make_record',
    'merge_records', 'median_times', 'print_table', 'script_command', 'validate_record',
    'write_record'
]
