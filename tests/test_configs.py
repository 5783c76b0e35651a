"""Every shipped config loads and builds from its toolbox's registry."""
from pathlib import Path

import pytest
from mmengine.config import Config

from tests.helpers import build_model

CONFIGS = sorted(str(p) for p in Path(__file__).resolve().parents[1].glob('configs/**/*.py'))


def test_configs_are_shipped():
    assert CONFIGS, 'no config under configs/'


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: Path(p).name)
def test_config_builds(path):
    cfg = Config.fromfile(path)
    scope = cfg.get('default_scope')
    assert scope in ('mmdet', 'mmpose', 'mmaction'), f'{path}: default_scope {scope!r}'
    model = build_model(cfg.model, scope)
    assert sum(p.numel() for p in model.parameters()) > 0
