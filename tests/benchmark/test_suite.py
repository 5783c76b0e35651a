"""mmeff.benchmark.suite: runs, merges the runs of a benchmark, keeps a failed one's record."""
import pytest

from mmeff.benchmark import load_record
from mmeff.benchmark import suite as suite_module
from mmeff.benchmark.suite import BENCHMARKS, Benchmark, Checkpoint, Run

MOVINET = ('--size', '32', '--repeats', '1', '--frames', '1')


def test_full_and_quick_run_the_same_scripts_with_their_own_checkpoints():
    names = [b.name for b in BENCHMARKS]
    assert len(names) == len(set(names))
    for benchmark in BENCHMARKS:
        assert benchmark.full and benchmark.quick and set(benchmark.checkpoint) == {'full', 'quick'}
        for mode in ('full', 'quick'):
            uses = any('{checkpoint}' in run.args for run in getattr(benchmark, mode))
            assert uses == (benchmark.checkpoint[mode] is not None), (benchmark.name, mode)


def test_a_checkpoint_is_named_by_the_command_that_prints_it():
    checkpoint = Checkpoint('pose', 'configs/pose/x.py', ('--height', '240'))
    assert checkpoint.shown() == ('$(python -m mmeff.benchmark.checkpoints pose '
                                  'configs/pose/x.py --height 240)')


@pytest.mark.e2e
def test_the_runs_of_a_benchmark_merge_and_the_page_is_rendered(tmp_path, monkeypatch):
    good = Benchmark(
        'movinet_stream', full=(), checkpoint=dict(full=None, quick=None),
        quick=(Run('tools/benchmark_movinet_stream.py', ('--windows', '2', *MOVINET)),
               Run('tools/benchmark_movinet_stream.py', ('--windows', '3', *MOVINET))))
    monkeypatch.setattr(suite_module, 'BENCHMARKS', (good, ))
    page = tmp_path / 'page.md'
    assert suite_module.main(['quick', '--out', str(tmp_path), '--page', str(page)]) == 0
    record = load_record(tmp_path / 'movinet_stream.json')
    assert [r['window'] for r in record['rows']] == [2, 3]
    assert record['commands'] == [
        f'python tools/benchmark_movinet_stream.py --windows {t} ' + ' '.join(MOVINET)
        for t in (2, 3)
    ]
    assert '## movinet_stream' in page.read_text()


@pytest.mark.e2e
def test_a_failing_benchmark_keeps_its_record_and_fails_the_suite(tmp_path, monkeypatch):
    ok = Benchmark('movinet_stream', full=(), checkpoint=dict(full=None, quick=None),
                   quick=(Run('tools/benchmark_movinet_stream.py', ('--windows', '2', *MOVINET)), ))
    monkeypatch.setattr(suite_module, 'BENCHMARKS', (ok, ))
    assert suite_module.main(['quick', '--out', str(tmp_path)]) == 0
    before = (tmp_path / 'movinet_stream.json').read_text()
    broken = Benchmark(
        'movinet_stream', full=(), checkpoint=dict(full=None, quick=None),
        quick=(Run('tools/benchmark_movinet_stream.py', ('--windows', '2', *MOVINET)),
               Run('tools/benchmark_movinet_stream.py', ('--arch', 'no-such-arch'))))
    monkeypatch.setattr(suite_module, 'BENCHMARKS', (broken, ))
    assert suite_module.main(['quick', '--out', str(tmp_path)]) == 1
    assert (tmp_path / 'movinet_stream.json').read_text() == before


def test_only_names_benchmarks_of_the_suite():
    with pytest.raises(SystemExit):
        suite_module.main(['quick', '--only', 'no_such_benchmark'])
