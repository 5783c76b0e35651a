"""Convolutions of one image evaluated at a list of output pixels (gather, GEMM), pixel-major.

Per-pixel sampling masks hit nearly every 8x8 tile of ``sparse_conv2d``'s tile path, so a
sampling block computes its convs here instead. Results are (P, C) rows, one per listed pixel.
Feature maps between the convs are *row maps*: (H * W + 1, C), the channels_last pixels of an
(H, W) map row-major, then one zero row that stands for the 3x3 convs' zero padding. A gather
reads whole channel vectors, and each conv is one gather and one ``addmm``.
"""
from typing import Tuple

import torch
from torch import Tensor


def pixel_indices(mask: Tensor) -> Tensor:
    """(P,) int64: the flat indices of the true positions of a (H, W) mask, row-major."""
    return mask.flatten().nonzero()[:, 0]


def input_indices(out_indices: Tensor, out_width: int, in_width: int, stride: int) -> Tensor:
    """The flat input index of each output pixel of a 1x1 conv with ``stride`` (the output
    indices themselves for stride 1)."""
    if stride == 1 and out_width == in_width:
        return out_indices
    rows, cols = out_indices // out_width, out_indices % out_width
    return rows * stride * in_width + cols * stride


def tap_indices(out_indices: Tensor, out_width: int, in_size: Tuple[int, int], stride: int,
                dilation: int) -> Tensor:
    """(P, 9) int64: for each output pixel (flat, in a map ``out_width`` wide) of a 3x3 conv
    with ``stride`` and padding = ``dilation``, the flat index of its taps (i, j) row-major in
    the row map of an ``in_size`` (H, W) input; taps in the padding get H * W, the zero row."""
    height, width = in_size
    offsets = (torch.arange(3, device=out_indices.device) - 1) * dilation
    rows = (out_indices // out_width * stride).view(-1, 1, 1) + offsets.view(1, 3, 1)
    cols = (out_indices % out_width * stride).view(-1, 1, 1) + offsets.view(1, 1, 3)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    return torch.where(inside, rows * width + cols, height * width).view(-1, 9)


def gather_taps(rows: Tensor, taps: Tensor) -> Tensor:
    """(P, T * C): the rows ``taps`` (P, T) of the map ``rows`` (L, C), each pixel's T rows
    side by side (the im2col matrix of the listed pixels)."""
    return rows.index_select(0, taps.flatten()).view(taps.shape[0], taps.shape[1] * rows.shape[1])


def pixel_gemm(gathered: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """(P, C_out): the conv ``weight`` (C_out, C_in, kh, kw) with ``bias`` applied to the
    im2col rows ``gathered`` (P, kh * kw * C_in), taps major, as one ``addmm``."""
    return torch.addmm(bias, gathered, weight.permute(0, 2, 3, 1).flatten(1).t())


def conv1x1_at(rows: Tensor, weight: Tensor, bias: Tensor, indices: Tensor) -> Tensor:
    """(P, C_out): ``weight`` (C_out, C_in, 1, 1) applied to the rows ``indices`` of the map
    ``rows`` (L, C_in), plus ``bias``."""
    return pixel_gemm(rows.index_select(0, indices), weight, bias)


def conv3x3_at(rows: Tensor, weight: Tensor, bias: Tensor, taps: Tensor) -> Tensor:
    """(P, C_out): a 3x3 conv ``weight`` (C_out, C_in, 3, 3) of the row map ``rows``
    (H * W + 1, C_in), zero last row, at the output pixels whose taps are ``taps`` (P, 9,
    :func:`tap_indices`)."""
    return pixel_gemm(gather_taps(rows, taps), weight, bias)


def new_row_map(size: Tuple[int, int], channels: int, like: Tensor) -> Tensor:
    """(H * W + 1, C): a row map of ``size`` with ``like``'s dtype and device; its pixel rows
    are unset (uninitialised memory), its last row is zero."""
    out = like.new_empty(size[0] * size[1] + 1, channels)
    out[-1].zero_()
    return out


def scatter_rows(values: Tensor, indices: Tensor, size: Tuple[int, int]) -> Tensor:
    """The row map (H * W + 1, C) of ``size`` with the rows ``values`` (P, C) at the flat
    ``indices``; the other pixel rows are left unset: the consumers, ``sparse_interp2d`` and a
    conv at the pixels whose inputs were computed, never read them."""
    return new_row_map(size, values.shape[1], values).index_copy_(0, indices, values)


def row_map_image(rows: Tensor, size: Tuple[int, int]) -> Tensor:
    """(1, C, H, W) channels_last view of the pixels of the row map ``rows`` (H * W + 1, C)."""
    return rows_as_images(rows[:size[0] * size[1]][None], size)


def rows_as_images(rows: Tensor, size: Tuple[int, int]) -> Tensor:
    """(N, C, H, W) channels_last view of the maps ``rows`` (N, H * W, C)."""
    return rows.view(rows.shape[0], *size, -1).permute(0, 3, 1, 2)


def images_as_rows(images: Tensor) -> Tensor:
    """(N, H * W, C) rows of channels_last (N, C, H, W) images (a view)."""
    return images.permute(0, 2, 3, 1).reshape(images.shape[0], -1, images.shape[1])
