"""The per-pixel convs of sparse inference against F.conv2d, in float64."""
import pytest
import torch
import torch.nn.functional as F

from mmeff.det.pixel_convs import (conv1x1_at, conv3x3_at, images_as_rows, input_indices,
                                   pixel_indices, row_map_image, scatter_rows, tap_indices)


def rows_of(image):
    """(H * W, C) rows of one NCHW image (1, C, H, W)."""
    return images_as_rows(image.contiguous(memory_format=torch.channels_last))[0]


def row_map_of(image):
    """The row map (H * W + 1, C) of one NCHW image: its rows, then a zero row."""
    rows = rows_of(image)
    return torch.cat([rows, rows.new_zeros(1, rows.shape[1])])


@pytest.mark.parametrize('stride, dilation, density', [(1, 1, 0.4), (2, 1, 0.3), (1, 2, 0.5),
                                                       (2, 2, 0.0), (1, 1, 1.0)])
def test_conv3x3_at_equals_conv2d_at_the_pixels(stride, dilation, density):
    g = torch.Generator().manual_seed(stride + 10 * dilation)
    image = torch.randn(1, 5, 11, 9, generator=g, dtype=torch.float64)
    weight = torch.randn(4, 5, 3, 3, generator=g, dtype=torch.float64)
    bias = torch.randn(4, generator=g, dtype=torch.float64)
    dense = F.conv2d(image, weight, bias, stride, dilation, dilation)
    mask = torch.rand(dense.shape[2:], generator=g) < density
    at = pixel_indices(mask)
    taps = tap_indices(at, dense.shape[3], (11, 9), stride, dilation)
    assert taps.shape == (len(at), 9) and bool((taps >= 0).all())
    got = conv3x3_at(row_map_of(image), weight, bias, taps)
    torch.testing.assert_close(got, rows_of(dense).index_select(0, at))


def test_tap_indices_point_padding_taps_at_the_zero_row():
    taps = tap_indices(torch.tensor([0, 5]), 3, (2, 3), 1, 1)  # corners of a 2x3 map
    zero = 6
    assert taps.tolist() == [[zero, zero, zero, zero, 0, 1, zero, 3, 4],
                             [1, 2, zero, 4, 5, zero, zero, zero, zero]]


@pytest.mark.parametrize('stride', [1, 2])
def test_conv1x1_at_with_stride_and_scatter(stride):
    g = torch.Generator().manual_seed(stride)
    image = torch.randn(1, 6, 9, 8, generator=g, dtype=torch.float64)
    weight = torch.randn(3, 6, 1, 1, generator=g, dtype=torch.float64)
    bias = torch.randn(3, generator=g, dtype=torch.float64)
    dense = F.conv2d(image, weight, bias, stride)
    mask = torch.rand(dense.shape[2:], generator=g) < 0.5
    at = pixel_indices(mask)
    got = conv1x1_at(rows_of(image), weight, bias, input_indices(at, dense.shape[3], 8, stride))
    size = tuple(dense.shape[2:])
    scattered = scatter_rows(got, at, size)
    assert scattered.shape == (size[0] * size[1] + 1, 3) and not scattered[-1].any()
    torch.testing.assert_close(row_map_image(scattered, size)[:, :, mask], dense[:, :, mask])
