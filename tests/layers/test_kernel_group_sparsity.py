"""Kernel-group sparsity schemes: exact structure and ratio, padding, buffers, errors."""
import io
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mmeff.layers.kernel_group_sparsity import (kernel_group_mask, masked_convs, prune_conv,
                                                restore_masks, unit_norms)


def units_of(mask, scheme, group_size):
    """The kept/removed state of each unit, checking that every unit is all kept or all
    removed (the scheme's structure)."""
    m, n, *kernel = mask.shape
    k = math.prod(kernel)
    if scheme == 'filter':
        flat = mask.reshape(m, -1)
        assert (flat.all(1) | ~flat.any(1)).all()
        return flat[:, 0]
    gm, gn = group_size
    ma, nb = math.ceil(m / gm), math.ceil(n / gn)
    units = torch.empty(ma, nb, k, dtype=torch.bool)
    for a in range(ma):
        for b in range(nb):
            block = mask[a * gm:(a + 1) * gm, b * gn:(b + 1) * gn].reshape(-1, k)
            assert (block.all(0) | ~block.any(0)).all(), 'a position differs inside a group'
            units[a, b] = block[0]
    if scheme == 'vanilla':
        assert (units.all(2) | ~units.any(2)).all(), 'a vanilla group is partly kept'
        return units[:, :, 0]
    return units


@settings(max_examples=60, deadline=None)
@given(scheme=st.sampled_from(['filter', 'vanilla', 'kgs']), group_size=st.sampled_from([(4, 4),
                                                                                         (8, 8),
                                                                                         (4, 8),
                                                                                         (2, 3)]),
       groups_m=st.integers(1, 4), groups_n=st.integers(1, 4), kernel=st.sampled_from([(3, 3, 3),
                                                                                       (1, 3, 3),
                                                                                       (3, 1, 1)]),
       ratio=st.floats(0, 0.99), seed=st.integers(0, 2**16))
def test_masks_have_the_asked_structure_and_ratio(scheme, group_size, groups_m, groups_n, kernel,
                                                  ratio, seed):
    torch.manual_seed(seed)
    weight = torch.randn(groups_m * group_size[0], groups_n * group_size[1], *kernel)
    mask = kernel_group_mask(weight, scheme, ratio, group_size)
    units = units_of(mask, scheme, group_size)
    assert (~units).sum().item() == round(ratio * units.numel())
    norms = unit_norms(weight, scheme, group_size)
    if 0 < (~units).sum() < units.numel():  # the removed units are the smallest
        assert norms[~units].max() <= norms[units].min()


@pytest.mark.parametrize('scheme', ['vanilla', 'kgs'])
def test_padding_handles_channels_the_group_size_does_not_divide(scheme):
    weight = torch.randn(10, 6, 3, 3, 3)
    with pytest.raises(ValueError, match=r'group_size \(4, 4\) does not divide.*pad=True'):
        kernel_group_mask(weight, scheme, 0.5, (4, 4))
    mask = kernel_group_mask(weight, scheme, 0.5, (4, 4), pad=True)
    units = units_of(mask, scheme, (4, 4))  # 3 x 2 groups, the last ones partial
    assert units.shape[:2] == (3, 2) and (~units).sum() == round(0.5 * units.numel())


def test_bad_arguments_get_clear_errors():
    weight = torch.randn(8, 8, 3, 3, 3)
    for ratio in (1.0, -0.1, 1.5, float('nan'), True):
        with pytest.raises(ValueError, match='ratio must be a number in'):
            kernel_group_mask(weight, 'kgs', ratio)
    with pytest.raises(ValueError, match='scheme must be one of'):
        kernel_group_mask(weight, 'random', 0.5)
    with pytest.raises(ValueError, match='group_size must be'):
        kernel_group_mask(weight, 'kgs', 0.5, (0, 4))
    for layer in (nn.Conv2d(8, 8, 3), nn.Linear(4, 4), nn.Conv3d(8, 8, 3, groups=2)):
        with pytest.raises(TypeError, match='kernel-group pruning'):
            prune_conv(layer, 'kgs', 0.5, (4, 4))


def test_masks_are_buffers_that_survive_save_and_load():
    model = nn.Sequential(nn.Conv3d(8, 16, 3), nn.ReLU(), nn.Conv3d(16, 8, (1, 3, 3)))
    masks = [prune_conv(model[0], 'kgs', 0.5, (4, 4)), prune_conv(model[2], 'vanilla', 0.25)]
    assert [name for name, _ in masked_convs(model)] == ['0', '2']
    assert (model[0].weight[~masks[0]] == 0).all()
    state = model.state_dict()
    assert {'0.weight_mask', '0.weight_mask_group_size', '2.weight_mask'} <= set(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    fresh = nn.Sequential(nn.Conv3d(8, 16, 3), nn.ReLU(), nn.Conv3d(16, 8, (1, 3, 3)))
    assert restore_masks(fresh, loaded) == ['0', '2']
    fresh.load_state_dict(loaded)
    assert torch.equal(fresh[0].weight_mask, masks[0]) and torch.equal(
        fresh[2].weight_mask, masks[1])
    assert fresh[0].weight_mask_group_size.tolist() == [4, 4]
