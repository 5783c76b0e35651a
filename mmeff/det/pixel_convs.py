"""Convolutions of one image evaluated at a list of output pixels (gather, GEMM), pixel-major.

Per-pixel sampling masks hit nearly every 8x8 tile of ``sparse_conv2d``'s tile path, so a
sampling block computes its convs here instead. Results are (P, C) rows, one per listed pixel;
feature maps between the convs are (H * W, C) rows (channels_last), so a gather reads whole
channel vectors and each conv is one ``addmm`` per kernel tap.
"""
import torch
from torch import Tensor


def pixel_indices(mask: Tensor) -> Tensor:
    """(P,) int64: the flat indices of the true positions of a (H, W) mask, row-major."""
    return mask.flatten().nonzero()[:, 0]


def input_indices(out_indices: Tensor, out_width: int, in_width: int, stride: int) -> Tensor:
    """The flat input index of each output pixel of a 1x1 conv with ``stride``."""
    rows, cols = out_indices // out_width, out_indices % out_width
    return rows * stride * in_width + cols * stride


def conv1x1_at(rows: Tensor, weight: Tensor, bias: Tensor, indices: Tensor) -> Tensor:
    """(P, C_out): ``weight`` (C_out, C_in, 1, 1) applied to the rows ``indices`` of the map
    ``rows`` (L, C_in), plus ``bias``."""
    return torch.addmm(bias, rows.index_select(0, indices), weight.flatten(1).t())


def conv3x3_at(rows: Tensor, size: tuple, weight: Tensor, bias: Tensor, out_indices: Tensor,
               out_width: int, stride: int, dilation: int) -> Tensor:
    """(P, C_out): a 3x3 conv (padding = dilation) of the map ``rows`` (H * W, C_in) of
    ``size`` (H, W) at the output pixels ``out_indices`` (flat, in a map ``out_width``
    wide)."""
    height, width = size
    d = dilation
    padded = rows.new_zeros(height + 2 * d, width + 2 * d, rows.shape[1])
    padded[d:d + height, d:d + width] = rows.view(height, width, -1)
    padded = padded.view(-1, rows.shape[1])
    base = input_indices(out_indices, out_width, width + 2 * d, stride)
    out = bias.expand(len(out_indices), -1)
    for i in range(3):
        for j in range(3):
            taps = padded.index_select(0, base + (i * (width + 2 * d) + j) * d)
            out = torch.addmm(out, taps, weight[:, :, i, j].t())
    return out


def scatter_rows(values: Tensor, indices: Tensor, size: tuple) -> Tensor:
    """(H * W, C) with the rows ``values`` (P, C) at the flat ``indices``; the other rows are
    left unset (uninitialised memory): the consumers, ``sparse_interp2d`` and a conv at the
    pixels whose inputs were computed, never read them."""
    out = values.new_empty(size[0] * size[1], values.shape[1])
    return out.index_copy_(0, indices, values)


def rows_as_images(rows: Tensor, size: tuple) -> Tensor:
    """(N, C, H, W) channels_last view of the maps ``rows`` (N, H * W, C)."""
    return rows.view(rows.shape[0], *size, -1).permute(0, 3, 1, 2)


def images_as_rows(images: Tensor) -> Tensor:
    """(N, H * W, C) rows of channels_last (N, C, H, W) images (a view)."""
    return images.permute(0, 2, 3, 1).reshape(images.shape[0], -1, images.shape[1])
