"""MAC accounting of dense and masked convolutions."""
import pytest
import torch

from mmeff.ops import conv_macs_per_position, dense_conv_macs, executed_conv_macs


def test_dense_macs_of_a_3x3_conv():
    weight = torch.empty(64, 32, 3, 3)
    assert conv_macs_per_position(weight) == 64 * 32 * 9
    assert dense_conv_macs(weight, (2, 10, 20)) == 2 * 10 * 20 * 64 * 32 * 9
    assert dense_conv_macs(weight.shape, (10, 20)) == 10 * 20 * 64 * 32 * 9


def test_grouped_and_depthwise_macs_follow_the_weight_shape():
    assert conv_macs_per_position(torch.empty(32, 1, 3, 3)) == 32 * 9  # depthwise
    assert conv_macs_per_position(torch.empty(32, 8, 3, 3)) == 32 * 8 * 9  # groups=4 of 32


def test_executed_macs_count_the_mask():
    weight = torch.empty(8, 4, 3, 3)
    mask = torch.zeros(2, 5, 5, dtype=torch.bool)
    mask[0, :2, :3] = True
    mask[1, 4, 4] = True
    assert executed_conv_macs(weight, mask) == 7 * 8 * 4 * 9
    assert executed_conv_macs(weight,
                              torch.ones(2, 5, 5,
                                         dtype=torch.bool)) == dense_conv_macs(weight, (2, 5, 5))


def test_executed_macs_reject_non_bool_masks():
    with pytest.raises(TypeError, match='mask must be bool'):
        executed_conv_macs(torch.empty(1, 1, 1, 1), torch.ones(1, 2, 2))
