"""tools/benchmark_skipconv_video.py and its pieces in mmeff.benchmark.pose_video: the fidelity
measures, the top-down video, and short runs of the tool."""
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mmeff import ops as mmeff_ops
from mmeff.benchmark import load_record
from mmeff.benchmark.pose_video import (build_hrnet, decoded_keypoints, keypoint_agreement, pck,
                                        same_peak_cell, topdown_video)

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'benchmark_skipconv_video.py'


def benchmark_process(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True,
                          text=True, timeout=900, env=dict(os.environ, PYTHONPATH=str(REPO)))


def run_benchmark(*args) -> str:
    """Runs the tool with ``args``; returns what it printed."""
    done = benchmark_process(*args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope='module')
def model_with_codec():
    """Stands in for a top-down estimator: only ``head.decoder`` is used."""
    from mmpose.codecs import MSRAHeatmap
    codec = MSRAHeatmap(input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
    return SimpleNamespace(head=SimpleNamespace(decoder=codec)), codec


def heatmaps_of(codec, keypoints_xy):
    """(N, K, 64, 48) target heatmaps of (N, K, 2) keypoints in input pixels."""
    maps = [codec.encode(np.asarray(k, np.float32)[None])['heatmaps'] for k in keypoints_xy]
    return torch.from_numpy(np.stack(maps))


def test_decoded_keypoints_are_in_input_pixels_within_half_a_cell(model_with_codec):
    model, codec = model_with_codec
    truth = np.array([[[50.0, 101.0], [130.5, 30.0], [97.0, 222.5]]])
    got = decoded_keypoints(model, heatmaps_of(codec, truth))
    assert got.shape == (1, 3, 2)
    assert (got - torch.from_numpy(truth)).abs().max() <= 2.0  # half a 4 px cell


def test_agreement_counts_a_neighbouring_peak_as_within_2px(model_with_codec):
    """A peak midway between two cells flips cells under a tiny change, but the codec's
    quarter-cell shift puts both decodings 2 px apart: within, and not the same cell."""
    model, codec = model_with_codec
    want = heatmaps_of(codec, [[[48.0, 100.0]]])  # heatmap cell (12, 25)
    got = heatmaps_of(codec, [[[52.0, 100.0]]])  # one cell (4 px) to the right
    between = (want + got) / 2
    nudged_left, nudged_right = between.clone(), between.clone()
    nudged_left[0, 0, 25, 12] += 1e-3
    nudged_right[0, 0, 25, 13] += 1e-3
    assert same_peak_cell(nudged_left, nudged_right) == 0.0
    assert keypoint_agreement(model, nudged_left, nudged_right) == 1.0
    assert keypoint_agreement(model, want, got) == 0.0  # a whole cell away is not
    assert same_peak_cell(want, want) == keypoint_agreement(model, want, want) == 1.0


def test_threshold_zero_run_reproduces_the_dense_model(tmp_path):
    out = tmp_path / 'result.json'
    config = REPO / 'configs' / 'pose' / 'td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'
    run_benchmark('--frames', '3', '--threshold', '0', '--figures', '1', '--config', str(config),
                  '--json', str(out))
    result = load_record(out)['rows'][0]
    assert result['frames'] == 3 and result['dense_gmacs'] > 0
    assert result['keypoints_within_2px_all'] == 1.0 and result['same_peak_cell_all'] == 1.0
    assert result['rel_err_last_quarter'] < 1e-4
    assert 0 < result['mac_ratio'] <= 1.0


@pytest.mark.skipif(not mmeff_ops.has_extension(), reason='the compiled extension is not built')
@pytest.mark.slow
def test_measured_dense_crossovers_are_set_and_reported(tmp_path):
    out = tmp_path / 'result.json'
    config = REPO / 'configs' / 'pose' / 'td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'
    run_benchmark('--frames', '3', '--gate', 'ValueGate', '--threshold', '0', '--dense-above',
                  'measured', '--channels-last', '--fold-dense', '--config', str(config), '--json',
                  str(out))
    result = load_record(out)['rows'][0]
    assert result['dense_above'] == 'measured' and len(result['crossovers']) > 10
    assert all(0.01 <= c <= 1.0 for c in result['crossovers'].values())
    assert result['keypoints_within_2px_all'] == 1.0  # threshold 0 stays exact either way
    assert result['fold_dense'] and result['rel_err_last_quarter'] < 1e-4  # folded: the same


@pytest.mark.slow
def test_a_larger_input_layer_threshold_skips_the_sensor_noise(tmp_path):
    config = REPO / 'configs' / 'pose' / 'td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'
    results = []
    for extra in ([], ['--input-relative', '0.5']):
        out = tmp_path / f'result{len(results)}.json'
        run_benchmark('--frames', '3', '--gate', 'ValueGate', '--relative', '0', '--noise', '0.02',
                      '--config', str(config), '--json', str(out), *extra)
        results.append(load_record(out)['rows'][0])
    assert results[0]['input_relative'] is None and results[1]['input_relative'] == 0.5
    assert results[0]['keypoints_within_2px_all'] == 1.0  # relative 0: exact
    assert results[1]['executed_gmacs'] < 0.8 * results[0]['executed_gmacs']


def small_topdown_model():
    """Stands in for a top-down estimator of 48x64 input: codec and data preprocessor."""
    from mmpose.codecs import MSRAHeatmap
    codec = MSRAHeatmap(input_size=(48, 64), heatmap_size=(12, 16), sigma=1)
    preprocessor = SimpleNamespace(mean=torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1),
                                   std=torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1))
    return SimpleNamespace(head=SimpleNamespace(decoder=codec), data_preprocessor=preprocessor)


def test_topdown_video_crops_one_box_around_the_figures_path():
    from mmeff.utils import SyntheticVideoConfig
    cfg = SyntheticVideoConfig(frames=6, height=120, width=160, flicker=0.0, max_speed=3.0)
    truth, (first, second) = topdown_video(cfg, small_topdown_model(), noise=0.01,
                                           noise_seeds=(1, 2))
    assert truth.shape == (6, 15, 2) and first.shape == second.shape == (6, 3, 64, 48)
    # the padded box holds the whole path: every keypoint lies inside the crop, none at its edge
    assert truth[..., 0].min() > 2 and truth[..., 0].max() < 46
    assert truth[..., 1].min() > 2 and truth[..., 1].max() < 62
    assert not torch.equal(first, second)  # the sensor noise is drawn anew
    noise_only = (first - second)[:, :, :8, :8]  # a background corner: the same scene
    assert noise_only.abs().mean() < 0.2


def test_pck_of_the_true_keypoints_heatmaps_is_one(model_with_codec):
    model, codec = model_with_codec
    truth = torch.tensor([[[50.0, 100.0], [130.0, 30.0], [100.0, 220.0]]])
    assert pck(model, heatmaps_of(codec, truth.numpy()), truth, 0.05) == 1.0
    far = truth + torch.tensor([40.0, 0.0])  # 40 px off in a box of 190 px: > 0.2 of it
    assert pck(model, heatmaps_of(codec, far.numpy()), truth, 0.2) == 0.0


def test_topdown_video_rejects_a_path_one_crop_cannot_follow():
    from mmeff.utils import SyntheticVideoConfig
    cfg = SyntheticVideoConfig(frames=200, height=60, width=80, max_speed=1.0, seed=3)
    with pytest.raises(ValueError, match='max-speed'):
        topdown_video(cfg, small_topdown_model(), noise=0.01, noise_seeds=(1, ))


@pytest.mark.slow
def test_a_model_with_other_keypoints_runs_without_pck(tmp_path):
    """The stock COCO models have 17 keypoints, the synthetic figure 15: no PCK, said so."""
    tiny = REPO / 'configs' / 'pose' / 'td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'
    config = tmp_path / 'coco_keypoints.py'
    config.write_text(f"_base_ = '{tiny}'\nmodel = dict(head=dict(out_channels=17))\n")
    out = tmp_path / 'result.json'
    printed = run_benchmark('--frames', '2', '--threshold', '0', '--config', str(config), '--json',
                            str(out))
    result = load_record(out)['rows'][0]
    assert result['pck@0.2_dense'] is None and result['keypoints_within_2px_all'] == 1.0
    assert 'PCK not computed: the model has 17 keypoints' in printed


@pytest.mark.slow
def test_trained_gumbel_gates_and_their_weights_load_from_the_checkpoint(tmp_path):
    """A Gumbel checkpoint (weights and gates): gates held open reproduce the dense model
    loaded from the same checkpoint, gates held shut execute the key frame only."""
    import mmeff
    tiny = REPO / 'configs' / 'pose' / 'td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'
    trained = mmeff.convert_to_skipconv(build_hrnet(str(tiny), None),
                                        gate=dict(type='GumbelGate', block_size=4), fuse_bn=False)
    torch.manual_seed(1)  # weights other than build_hrnet's seeded ones: they must load
    for p in trained.parameters():
        p.data.normal_(0, 0.1)
    results = {}
    for bias in (100.0, -100.0):
        for name, p in trained.named_parameters():
            if name.endswith('gate.conv.bias'):
                p.data.fill_(bias)
        checkpoint, out = tmp_path / f'gates{bias}.pth', tmp_path / f'result{bias}.json'
        torch.save(dict(state_dict=trained.state_dict()), checkpoint)
        run_benchmark('--frames', '4', '--gate', 'GumbelGate', '--block', '4', '--config',
                      str(tiny), '--checkpoint', str(checkpoint), '--json', str(out))
        results[bias] = load_record(out)['rows'][0]
    assert results[100.0]['keypoints_within_2px_all'] == 1.0 and results[100.0]['threshold'] is None
    assert results[100.0]['rel_err_last_quarter'] < 1e-4
    # open gates execute every block, and on the 3 frames after the key frame the gates' own
    # convs as overhead; shut gates execute that overhead and the key frame only
    assert 1.0 < results[100.0]['mac_ratio'] < 1.1
    assert results[-100.0]['mac_ratio'] == pytest.approx(results[100.0]['mac_ratio'] - 3 / 4)
    # the noisy frames were skipped: an error far above the open gates' rounding
    assert results[-100.0]['rel_err_last_quarter'] > 100 * results[100.0]['rel_err_last_quarter']


def test_gumbel_gates_refuse_thresholds():
    done = benchmark_process('--gate', 'GumbelGate', '--relative', '0.05')
    assert done.returncode == 2 and 'GumbelGate has no thresholds' in done.stderr
