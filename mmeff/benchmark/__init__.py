"""Benchmark support: alternating timing, the JSON records every benchmark script writes, the
suite behind ``bash tools/run.sh bench`` and the renderer of ``docs/benchmarks.md``."""
from .record import (SCHEMA_VERSION, Column, bench_environment, load_record, make_record,
                     merge_records, print_table, publish_record, script_command, validate_record,
                     write_record)
from .timing import ConvTimer, add_timing_arguments, median_times

__all__ = [
    'SCHEMA_VERSION', 'Column', 'ConvTimer', 'add_timing_arguments', 'bench_environment',
    'load_record', 'make_record', 'merge_records', 'median_times', 'print_table', 'publish_record',
    'script_command', 'validate_record', 'write_record'
]
