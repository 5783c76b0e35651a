"""mmeff.benchmark.record: the JSON schema every benchmark writes, merging and writing."""
import json
import shlex

import pytest

from mmeff.benchmark import (SCHEMA_VERSION, Column, load_record, make_record, merge_records,
                             publish_record, script_command, validate_record, write_record)
from mmeff.benchmark.record import REPO, format_value, record_rows_as_text

COLUMNS = [
    Column('layer', 'layer'),
    Column('ms', 'time ms', '.2f'),
    Column('share', 'share', '.1%')
]


def sample(rows=None, **overrides):
    record = make_record('sample_bench', 'A sample', 'What it measures.', COLUMNS, rows
                         or [dict(layer='3x3', ms=1.234, share=0.25)], dict(repeats=3), threads=2,
                         command='python tools/x.py --repeats 3')
    record.update(overrides)
    return record


def test_a_record_names_its_environment_and_command():
    record = sample()
    validate_record(record)
    assert record['schema'] == SCHEMA_VERSION and record['commands'] == [
        'python tools/x.py '
        '--repeats 3'
    ]
    env = record['environment']
    assert env['threads'] == 2 and env['torch'] and env['cpu'] and env['date'][:2] == '20'
    assert env['isa'] in ('AVX-512', 'AVX2', 'baseline')


@pytest.mark.parametrize('change, message', [
    (lambda r: r.pop('rows'), "missing key 'rows'"),
    (lambda r: r.update(schema=99), 'schema 99'),
    (lambda r: r.update(benchmark='a b'), 'letters, digits'),
    (lambda r: r.update(commands=[]), 'commands'),
    (lambda r: r['environment'].pop('cpu'), "lacks ['cpu']"),
    (lambda r: r['columns'].append(dict(key='x')), 'exactly key, header'),
    (lambda r: r.update(rows=[]), 'no rows'),
    (lambda r: r['rows'][0].pop('ms'), "row 0 lacks ['ms']"),
    (lambda r: r['rows'][0].update(ms=[1]), "'ms' must be a number"),
    (lambda r: r.update(title=3), "'title' must be a str"),
])
def test_a_broken_record_is_refused_with_the_reason(change, message):
    record = sample()
    change(record)
    with pytest.raises(ValueError, match=message.replace('[', r'\[').replace(']', r'\]')):
        validate_record(record)


def test_write_and_load_round_trip_and_name_the_file(tmp_path):
    path = tmp_path / 'sub' / 'bench.json'
    write_record(path, sample())
    assert load_record(path) == json.loads(path.read_text())
    assert not list(tmp_path.glob('sub/*.tmp'))  # written under a temporary name, renamed
    path.write_text('{"schema": 1}')
    with pytest.raises(ValueError, match='bench.json'):
        load_record(path)


def test_a_refused_record_leaves_the_previous_file(tmp_path):
    path = tmp_path / 'bench.json'
    write_record(path, sample())
    before = path.read_text()
    with pytest.raises(ValueError):
        write_record(path, sample(rows=[dict(layer='x')]))
    assert path.read_text() == before


def test_merge_joins_rows_and_commands_in_order():
    first = sample([dict(layer='a', ms=1.0, share=0.1)])
    second = sample([dict(layer='b', ms=2.0, share=None)], commands=['python tools/x.py --b'])
    merged = merge_records([first, second])
    assert [r['layer'] for r in merged['rows']] == ['a', 'b']
    assert merged['commands'] == ['python tools/x.py --repeats 3', 'python tools/x.py --b']
    other = sample()
    other['columns'] = other['columns'][:2]
    with pytest.raises(ValueError, match='columns differ'):
        merge_records([first, other])


def test_cells_are_formatted_by_their_column():
    assert format_value(None, '.2f') == '-' and format_value(0.25, '.1%') == '25.0%'
    assert format_value('x', '.2f') == 'x' and format_value(3, 'g') == '3'
    assert record_rows_as_text(sample()) == [['layer', 'time ms', 'share'],
                                             ['3x3', '1.23', '25.0%']]


def test_the_command_is_shown_from_the_repository_without_the_output():
    argv = [
        str(REPO / 'tools' / 'benchmark_sparse_conv.py'), '--layers', '3x3 32->32', '--json',
        '/tmp/out.json', '--repeats', '2'
    ]
    command = script_command(argv)
    assert command == "python tools/benchmark_sparse_conv.py --layers '3x3 32->32' --repeats 2"
    assert shlex.split(command)[2:] == ['--layers', '3x3 32->32', '--repeats', '2']
    assert '--json' not in script_command(['x.py', '--json=/tmp/a.json'])


def test_publish_record_prints_the_table_and_writes_only_when_asked(tmp_path, capsys):
    record = sample()
    publish_record(record, None)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == '' and printed[1].split() == ['layer', 'time', 'ms', 'share']
    assert printed[3].split() == ['3x3', '1.23', '25.0%']
    assert not list(tmp_path.iterdir())
    publish_record(record, str(tmp_path / 'sample.json'))
    assert load_record(tmp_path / 'sample.json') == record
