"""Benchmark support: alternating timing, the JSON records every benchmark script writes, the
suite behind ``bash tools/run.sh bench`` and the renderer of ``docs/benchmarks.md``."""
from .record import (SCHEMA_VERSION, Column, bench_environment, load_record, make_record,
                     merge_records, print_table, publish_record, script_command, validate_record,
                     write_record)
from .timing import (CLOCKS, ConvTimer, add_clock_argument, add_timing_arguments, chosen_clock,
                     median_times)

__all__ = [
    'CLOCKS', 'SCHEMA_VERSION', 'Column', 'ConvTimer', 'add_clock_argument', 'add_timing_arguments',
    'chosen_clock', 'bench_environment', 'load_record', 'make_record', 'merge_records',
    'median_times', 'print_table', 'publish_record', 'script_command', 'validate_record',
    'write_record'
]
