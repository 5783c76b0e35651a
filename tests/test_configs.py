"""Every shipped config loads and builds from its toolbox's registry."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

CONFIGS = sorted(str(p) for p in Path(__file__).resolve().parents[1].glob('configs/**/*.py'))


def test_configs_are_shipped():
    assert CONFIGS, 'no config under configs/'


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: Path(p).name)
def test_config_builds(path):
    cfg = Config.fromfile(path)
    scope = cfg.get('default_scope')
    assert scope in ('mmdet', 'mmpose', 'mmaction'), f'{path}: default_scope {scope!r}'
    init_default_scope(scope)
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    model = registry.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
