"""EfficientDet-D0 with the EfficientNet-CondConv-B0 backbone (4 experts) through mmdet's own
tools/train.py on synthetic video: the loss falls and the trained mAP beats the untrained
model's. The same short run as test_mmdet_tools.py's static one."""
import pytest

from mmeff.utils import SyntheticDetectionConfig, write_synthetic_detection
from tests.e2e.test_mmdet_tools import (REPO, assert_loss_decreases, assert_map_beats_untrained,
                                        last_scalars, run_tool, write_config)

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
    config = write_config(root / 'condconv.py', CONDCONV, data, evaluator='coco',
                          extra='randomness = dict(seed=0)\n')
    run_tool('train.py', config, '--work-dir', root / 'train')
    return dict(config=config, scalars=last_scalars(root / 'train'))


def test_condconv_detector_loss_falls(trained):
    assert_loss_decreases(trained['scalars'])


def test_condconv_detector_map_beats_untrained(trained, tmp_path):
    assert_map_beats_untrained(trained['config'], trained['scalars'], tmp_path / 'untrained')
