"""The shared pieces of the benchmark scripts: their timing options and the record's output."""
import argparse

from mmeff.benchmark import Column, add_timing_arguments, load_record, make_record, publish_record


def test_timing_arguments_defaults_and_overrides():
    parser = argparse.ArgumentParser()
    add_timing_arguments(parser, repeats=7, warmup=2)
    args = parser.parse_args([])
    assert (args.threads, args.repeats, args.warmup, args.json) == (2, 7, 2, None)
    args = parser.parse_args(['--threads', '1', '--json', 'x.json', '--repeats', '3'])
    assert (args.threads, args.repeats, args.json) == (1, 3, 'x.json')


def test_publish_record_prints_and_writes_only_with_a_path(tmp_path, capsys):
    record = make_record('probe', 'Probe', 'A probe.', [Column('a', 'A', '.1f')], [dict(a=1.25)],
                         settings={}, threads=2, command='python probe.py')
    publish_record(record, None)
    assert '1.2' in capsys.readouterr().out and not list(tmp_path.iterdir())
    publish_record(record, str(tmp_path / 'probe.json'))
    assert load_record(tmp_path / 'probe.json')['rows'] == [dict(a=1.25)]
