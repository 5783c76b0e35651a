"""SkipConvModel: the stock recipe, converted, from a config."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmeff

CONFIG = str(
    Path(__file__).resolve().parents[2] / 'configs' / 'skipconv' /
    'td-hm_hrnet-w32-skipconv-inorm_8xb64-210e_coco-256x192.py')


@pytest.mark.slow
def test_stock_hrnet_recipe_converted_from_config_loads_dense_weights():
    cfg = Config.fromfile(CONFIG)
    assert cfg.model.type == 'SkipConvModel'
    init_default_scope('mmpose')
    from mmpose.registry import MODELS
    torch.manual_seed(0)
    converted = MODELS.build(cfg.model)
    dense = MODELS.build(cfg.model.model)
    assert type(converted) is type(dense)  # the runner and tools see the stock class
    layers = [m for m in converted.modules() if isinstance(m, mmeff.SkipConv2d)]
    assert len(layers) == sum(type(m) is torch.nn.Conv2d for m in dense.modules())
    converted.load_state_dict(dense.state_dict(), strict=True)  # dense checkpoints load as they are
    converted.eval()
    dense.eval()
    frame = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for t in range(3):
            frame = frame.clone()
            frame[..., 8 * t:8 * t + 8, 8:16] += 1
            torch.testing.assert_close(converted(frame, None, mode='tensor'),
                                       dense(frame, None, mode='tensor'), rtol=1e-4, atol=1e-5)
    assert 0 < layers[0].executed_macs < layers[0].dense_macs
