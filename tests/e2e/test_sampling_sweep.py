"""The accuracy-vs-MACs sweep tool at its smallest: two SparseResNet RetinaNets trained with
mmdet's tools/train.py on two short synthetic videos, at two sparse-loss weights. Each learns
(its detection loss falls), and the larger gamma gives the lower density, in training and in
the sparse, deterministic validation."""
import subprocess
import sys
from pathlib import Path

from mmeff.benchmark import load_record
from mmeff.utils import SyntheticDetectionConfig, write_synthetic_detection

REPO = Path(__file__).resolve().parents[2]
GAMMAS = ('0.05', '2')


def test_density_falls_as_gamma_rises_and_training_learns(tmp_path):
    data = tmp_path / 'data'
    cfg = SyntheticDetectionConfig(frames=8, objects=1, min_size=0.25, max_size=0.45)
    write_synthetic_detection(str(data), 'train', 2, cfg, first_seed=0)
    write_synthetic_detection(str(data), 'val', 1, cfg, first_seed=10000)
    record_path, plot = tmp_path / 'sweep.json', tmp_path / 'sweep.png'
    done = subprocess.run([
        sys.executable, 'tools/sweep_sampling_interp.py', '--data', data, '--work-dir',
        tmp_path / 'work', '--gammas', *GAMMAS, '--sizes', '--epochs', '8', '--warmup-iters', '4',
        '--json', record_path, '--plot', plot
    ], cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    low, high = load_record(record_path)['rows']
    assert (low['gamma'], high['gamma']) == GAMMAS
    for row in (low, high):
        assert row['loss_last'] < 0.95 * row['loss_first'], row
        assert row['backbone_gmacs'] > 0 and row['detector_gmacs'] > row['backbone_gmacs']
    assert high['train_mac_share'] < low['train_mac_share']
    assert high['backbone_gmacs'] < low['backbone_gmacs']
    assert plot.stat().st_size > 0
