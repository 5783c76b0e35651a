"""EfficientDet-D0 with the EfficientNet-CondConv-B0 backbone (4 experts) through mmdet's own
tools/train.py on synthetic video: the loss falls and the trained mAP beats the untrained
model's. The same short run as test_mmdet_tools.py's static one."""
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmeff.utils import SyntheticDetectionConfig, write_synthetic_detection
from tests.e2e.test_mmdet_tools import REPO, last_scalars, run_tool, write_config

CONDCONV = (REPO / 'configs' / 'condconv' /
            'efficientdet_effb0-cc4e_bifpn_1xb8-24e_synthvid-128x128.py')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp('effdet_cc')
    data = root / 'data'
    cfg = SyntheticDetectionConfig(frames=8, height=128, width=128, objects=1, min_size=0.25,
                                   max_size=0.45)
    write_synthetic_detection(str(data), 'train', 2, cfg, first_seed=0)
    write_synthetic_detection(str(data), 'val', 2, cfg, first_seed=10000)
    config = write_config(root / 'condconv.py', CONDCONV, data, evaluator='coco')
    run_tool('train.py', config, '--work-dir', root / 'train')
    return dict(config=config, scalars=last_scalars(root / 'train'))


def test_condconv_detector_loss_falls(trained):
    losses = [r['loss'] for r in trained['scalars'] if 'loss' in r]
    assert len(losses) >= 16
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < 0.8 * first, losses


def test_condconv_detector_map_beats_untrained(trained, tmp_path):
    trained_map = [r for r in trained['scalars'] if 'coco/bbox_mAP' in r][-1]['coco/bbox_mAP']
    cfg = Config.fromfile(trained['config'])
    cfg.work_dir = str(tmp_path / 'untrained')
    runner = Runner.from_cfg(cfg)
    torch.manual_seed(0)
    runner.model.init_weights()  # the state training starts from
    untrained_map = runner.test()['coco/bbox_mAP']
    assert trained_map > untrained_map, (trained_map, untrained_map)
    assert trained_map > 0
