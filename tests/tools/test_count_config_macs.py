"""tools/count_config_macs.py: a CondConv detector config counts the static config's convs
plus its kernel mix, and its extra parameters are the extra experts and the routers."""

import pytest

from tests.helpers import REPO

STATIC = REPO / 'configs' / 'efficientdet' / 'efficientdet_effb0_bifpn_1xb8-24e_synthvid-128x128.py'
CC4E = REPO / 'configs' / 'condconv' / 'efficientdet_effb0-cc4e_bifpn_1xb8-24e_synthvid-128x128.py'


@pytest.fixture(scope='module')
def tool():
    pytest.importorskip('mmdet', reason='the configs are mmdet detectors')
    from mmeff.benchmark import condconv_stats
    return condconv_stats


def test_condconv_detector_adds_the_mix_and_the_experts(tool):
    static = tool.count_config(str(STATIC), 64, 64)
    condconv = tool.count_config(str(CC4E), 64, 64)
    assert static['mix_m'] == 0 and static['conv_m'] > 0
    assert condconv['conv_m'] == pytest.approx(static['conv_m'])
    # 4 experts: the mix reads 4 kernels of the CondConv layers, which hold 3 extra copies
    mix_params = condconv['mix_m'] / 4
    assert condconv['params_m'] - static['params_m'] == pytest.approx(3 * mix_params, rel=1e-3)
    assert condconv['madds_m'] == pytest.approx(condconv['conv_m'] + condconv['mix_m'] +
                                                condconv['linear_m'])
