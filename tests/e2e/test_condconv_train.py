"""EfficientDet-D0 with the EfficientNet-CondConv-B0 backbone (4 experts) through mmdet's own
tools/train.py on synthetic video: the loss falls and the trained mAP beats the untrained
model's. The same short run as test_mmdet_tools.py's static one."""
import pytest

from tests.e2e.test_mmdet_tools import (REPO, assert_loss_decreases, assert_map_beats_untrained,
                                        train_on_synthetic_videos)

CONDCONV = (REPO / 'configs' / 'condconv' /
            'efficientdet_effb0-cc4e_bifpn_1xb8-24e_synthvid-128x128.py')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    return train_on_synthetic_videos(tmp_path_factory.mktemp('effdet_cc'), CONDCONV,
                                     extra='randomness = dict(seed=0)\n')


def test_condconv_detector_loss_falls(trained):
    assert_loss_decreases(trained['scalars'])


def test_condconv_detector_map_beats_untrained(trained, tmp_path):
    assert_map_beats_untrained(trained['config'], trained['scalars'], tmp_path / 'untrained')
