"""mmeff.benchmark.report: the benchmark page and its plots, from records."""

from mmeff.benchmark import Column, make_record, write_record
from mmeff.benchmark.report import markdown_table, render_page_file
from mmeff.benchmark.suite import NAMES


def skipconv_video_record():
    rows = []
    for series, points in (('InputNormGate 8x8', [(0.8, 0.99), (0.3, 0.7)]),
                           ('ValueGate, channels_last', [(0.25, 0.98)])):
        for mac_ratio, within in points:
            rows.append(
                dict(series=series, setting='relative 0.1', mac_ratio=mac_ratio,
                     keypoints_within_2px_all=within, dense_vs_redrawn_noise_within_2px=0.985))
    columns = [
        Column('series', 'gate'),
        Column('mac_ratio', 'MAC share', '.1%'),
        Column('keypoints_within_2px_all', 'within 2 px', '.1%')
    ]
    return make_record('skipconv_video', 'SkipConv video', 'Fidelity | MACs.', columns, rows, {},
                       threads=2, command='python tools/benchmark_skipconv_video.py')


def movinet_record():
    rows = [dict(window=t, stream_ms=5.0, layers_ms=10.0, window_ms=5.0 * t) for t in (4, 8)]
    columns = [
        Column('window', 'T'),
        Column('stream_ms', 'stream ms', '.2f'),
        Column('window_ms', 'window ms', '.2f')
    ]
    return make_record('movinet_stream', 'MoViNet-A0 streaming', 'Stream vs window.', columns, rows,
                       {}, threads=2, command='python tools/benchmark_movinet_stream.py')


def test_the_page_has_a_section_per_record_plots_and_the_missing_ones(tmp_path):
    records, page = tmp_path / 'docs' / 'benchmarks', tmp_path / 'docs' / 'benchmarks.md'
    write_record(records / 'skipconv_video.json', skipconv_video_record())
    write_record(records / 'movinet_stream.json', movinet_record())
    render_page_file(records, page)
    text = page.read_text()
    assert text.startswith('# Benchmarks')
    assert text.index('## movinet_stream') < text.index('## skipconv_video')  # the suite's order
    assert '![MoViNet-A0 streaming](benchmarks/movinet_stream.png)' in text
    assert '![SkipConv video](benchmarks/skipconv_video.png)' in text
    for name in ('movinet_stream', 'skipconv_video'):
        png = records / f'{name}.png'
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 5000
    assert 'python tools/benchmark_movinet_stream.py' in text and '2 threads' in text
    missing = text[text.index('## Not measured yet'):]
    for name in set(NAMES) - {'movinet_stream', 'skipconv_video'}:
        assert f'bash tools/run.sh bench --only {name}' in missing


def test_tables_format_cells_and_escape_the_pipe():
    record = skipconv_video_record()
    record['rows'][0]['series'] = 'a|b'
    table = markdown_table(record).splitlines()
    assert table[0] == '| gate | MAC share | within 2 px |' and table[1] == '|---|---|---|'
    assert table[2] == '| a\\|b | 80.0% | 99.0% |'
    assert table[4] == '| ValueGate, channels_last | 25.0% | 98.0% |'
