"""tools/rt3d_report.py on a pruned checkpoint: one row per masked Conv3d and the totals."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from mmeff.layers.kernel_group_sparsity import prune_model
from mmeff.utils.pruning_report import hook_input_shape
from tests.helpers import REPO, build_model

TINY_CONFIG = REPO / 'configs/rt3d/r2plus1d-tiny-kgs-2x_1xb8-8x1x1-8e_synthetic-actions-rgb.py'


def test_rt3d_report_tool_on_a_pruned_tiny_r2plus1d(tmp_path):
    pytest.importorskip('mmaction', reason='mmaction2 is not installed')
    cfg = Config.fromfile(str(TINY_CONFIG))
    model = build_model(cfg.model, 'mmaction')
    masks = prune_model(model, 'kgs', 0.5, (4, 4), pad=True)
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'kgs.pth')
    done = subprocess.run([
        sys.executable, REPO / 'tools/rt3d_report.py', TINY_CONFIG, tmp_path / 'kgs.pth', '--json',
        tmp_path / 'r.json'
    ], capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith('---')) + 1:]
    rows = {line.split()[0]: line.split() for line in table}
    assert set(rows) == {*masks, 'model'}  # every Conv3d of the model is masked, one row each
    for name, mask in masks.items():
        assert rows[name][-1] == f'{(~mask).float().mean().item():.1%}'
    report = json.loads((tmp_path / 'r.json').read_text())
    pruned = sum(int((~m).sum()) for m in masks.values())
    assert report['kept_params'] == report['params'] - pruned
    # one ratio over all convs: their FLOPs halve; BN, pooling and the head stay dense
    conv_flops = sum(layer['flops'] for layer in report['layers'])
    kept_conv = sum(layer['kept_flops'] for layer in report['layers'])
    assert kept_conv / conv_flops == pytest.approx(0.5, abs=0.01)
    assert 1.9 < report['flop_reduction'] < 2.0
    assert math.prod(hook_input_shape(cfg)) == 8 * 32 * 32 * 3
