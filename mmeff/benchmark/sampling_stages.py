"""The stages of a ``SparseBottleneck``'s sparse inference, timed one by one against the dense
``Bottleneck``'s, and the efficiency bound they give: the pieces of
``tools/benchmark_sampling_interp.py --breakdown``."""
from typing import Callable, Dict, Sequence

import torch
from mmdet.models.backbones.resnet import Bottleneck

from ..det import SparseBottleneck
from ..det.pixel_convs import (gather_taps, images_as_rows, input_indices, new_row_map, pixel_gemm,
                               pixel_indices, row_map_image, rows_as_images, scatter_rows,
                               tap_indices)
from ..ops import dense_conv_macs
from .timing import median_times

#: a clock of ``median_times``: seconds, wall or CPU
Clock = Callable[[], float]


def set_mask_density(block: SparseBottleneck, x: torch.Tensor, density: float,
                     gen: torch.Generator) -> None:
    """Random mask-head weights, and the bias that keeps ``density`` of the positions."""
    heads = [h for h in (getattr(block, 'mask1_head', None), block.mask2_head) if h is not None]
    for head in heads:
        with torch.no_grad():
            head.conv.weight.normal_(0, 0.05, generator=gen)
            head.conv.bias.zero_()
            logits = head.conv(x).flatten()
            head.conv.bias.fill_(-torch.quantile(logits, 1 - density).item())


SPARSE_STAGES = ('mask_heads', 'mac_count', 'bn_folding', 'indices', 'conv1_gather', 'conv1_gemm',
                 'conv1_scatter', 'interpolation1', 'conv2_gather', 'conv2_gemm', 'conv3_gemm',
                 'conv3_scatter', 'interpolation2', 'shortcut', 'residual')
#: the stages whose cost does not fall with the density: the sparse block's own, then those the
#: dense block has too
OVERHEAD_STAGES = ('mask_heads', 'mac_count', 'bn_folding')
SHARED_STAGES = ('shortcut', 'residual')
#: the breakdown's stages of the dense block (DenseStages methods), in order
DENSE_STAGES = ('conv1', 'bn_relu1', 'conv2', 'bn_relu2', 'conv3', 'bn3', 'shortcut', 'residual')
#: the target of the issue: efficiency at 30-50 % density
TARGET_EFFICIENCY = 0.7


class SparseStages:
    """The stages of ``SparseBottleneck.forward_sparse`` (integration 'inner', one channels_last
    image), one method each, run on what the stages before it kept: the same calls as the
    block makes, so each can be timed alone. :meth:`run` runs them all in order and returns
    the block's output."""

    def __init__(self, block: SparseBottleneck, x: torch.Tensor):
        if block.integration != 'inner' or x.shape[0] != 1:
            raise ValueError('SparseStages: integration "inner" and batch 1 only, got '
                             f'{block.integration!r} and batch {x.shape[0]}')
        self.block, self.x, self.x_rows = block, x, images_as_rows(x)[0]
        self.size1 = tuple((s - 1) // block.conv1_stride + 1 for s in x.shape[2:])

    def run(self) -> torch.Tensor:
        for stage in SPARSE_STAGES:
            getattr(self, stage)()
        return self.out

    def mask_heads(self) -> None:
        self.masks = self.block.masks(self.x)[1]

    def mac_count(self) -> None:
        self.block.count_macs(self.x.shape, self.masks)

    def bn_folding(self) -> None:
        self.folded = self.block.folded_convs()

    def indices(self) -> None:
        b, (mask1, mask2) = self.block, self.masks
        self.at1, self.at2 = pixel_indices(mask1[0]), pixel_indices(mask2[0])
        self.in1 = input_indices(self.at1, self.size1[1], self.x.shape[3], b.conv1_stride)
        self.taps = tap_indices(self.at2, mask2.shape[2], self.size1, b.conv2_stride,
                                b.conv2.dilation[0])

    def conv1_gather(self) -> None:
        self.gathered1 = self.x_rows.index_select(0, self.in1)

    def conv1_gemm(self) -> None:
        self.conv1_rows = self.block.relu(pixel_gemm(self.gathered1, *self.folded[0]))

    def conv1_scatter(self) -> None:
        self.conv1_map = scatter_rows(self.conv1_rows, self.at1, self.size1)

    def interpolation1(self) -> None:
        self.filled1 = new_row_map(self.size1, self.block.planes, self.x)
        self.block.interp1(row_map_image(self.conv1_map, self.size1), self.masks[0],
                           out=row_map_image(self.filled1, self.size1))

    def conv2_gather(self) -> None:
        self.gathered2 = gather_taps(self.filled1, self.taps)

    def conv2_gemm(self) -> None:
        self.conv2_rows = self.block.relu(pixel_gemm(self.gathered2, *self.folded[1]))

    def conv3_gemm(self) -> None:
        self.conv3_rows = pixel_gemm(self.conv2_rows, *self.folded[2])

    def conv3_scatter(self) -> None:
        size2 = tuple(self.masks[1].shape[1:])
        rows = self.x.new_empty(1, size2[0] * size2[1], self.conv3_rows.shape[1])
        rows[0].index_copy_(0, self.at2, self.conv3_rows)
        self.conv3_map = rows_as_images(rows, size2)

    def interpolation2(self) -> None:
        self.filled3 = self.block.interp2(self.conv3_map, self.masks[1], fill=self.folded[2][1])

    def shortcut(self) -> None:
        self.identity = self.block._shortcut(self.x)

    def residual(self) -> None:
        self.out = self.block.relu(self.filled3.add_(self.identity))

    def executed_gemm_macs(self) -> Dict[str, int]:
        """MACs of the three GEMMs: rows x weight size."""
        return dict(conv1=len(self.at1) * self.block.conv1.weight.numel(),
                    conv2=len(self.at2) * self.block.conv2.weight.numel(),
                    conv3=len(self.at2) * self.block.conv3.weight.numel())


class DenseStages:
    """mmdet's ``Bottleneck.forward`` (no plugins, no checkpointing) one stage a method, as
    :class:`SparseStages`."""

    def __init__(self, block: Bottleneck, x: torch.Tensor):
        self.block, self.x = block, x

    def conv1(self) -> None:
        self.out1 = self.block.conv1(self.x)

    def bn_relu1(self) -> None:
        self.act1 = self.block.relu(self.block.norm1(self.out1))

    def conv2(self) -> None:
        self.out2 = self.block.conv2(self.act1)

    def bn_relu2(self) -> None:
        self.act2 = self.block.relu(self.block.norm2(self.out2))

    def conv3(self) -> None:
        self.out3 = self.block.conv3(self.act2)

    def bn3(self) -> None:
        self.act3 = self.block.norm3(self.out3)

    def shortcut(self) -> None:
        self.identity = self.x if self.block.downsample is None else self.block.downsample(self.x)

    def residual(self) -> None:
        self.out = self.block.relu(self.act3.add_(self.identity))  # mmdet: out += identity

    def conv_macs(self) -> Dict[str, int]:
        """MACs of the three dense convs."""
        return {
            name:
            dense_conv_macs(
                getattr(self.block, name).weight, (1, *getattr(self, 'out' + name[-1]).shape[2:]))
            for name in ('conv1', 'conv2', 'conv3')
        }


def stage_times(stages, names: Sequence[str], repeats: int, warmup: int,
                clock: Clock) -> Dict[str, float]:
    """ms of each stage method ``names`` of ``stages`` (run once in order first), timed
    alternately."""
    for name in names:
        getattr(stages, name)()
    seconds = median_times({name: getattr(stages, name)
                            for name in names}, repeats, warmup, clock=clock)
    return {name: s * 1e3 for name, s in seconds.items()}


def breakdown(block: SparseBottleneck, dense: Bottleneck, x_last: torch.Tensor, dense_x, row: Dict,
              repeats: int, warmup: int, clock: Clock) -> Dict:
    """The per-stage times of the sparse and the dense block, the GEMMs' throughput and the
    bound (docs/sampling_interp.md, "Where the time goes") of one benchmark row."""
    sparse, dense_stages = SparseStages(block, x_last), DenseStages(dense, dense_x)
    sparse_ms = stage_times(sparse, SPARSE_STAGES, repeats, warmup, clock)
    dense_ms = stage_times(dense_stages, DENSE_STAGES, repeats, warmup, clock)
    sparse_ms['rest'] = row['sparse_ms'] - sum(sparse_ms.values())
    gemm_macs, conv_macs = sparse.executed_gemm_macs(), dense_stages.conv_macs()
    gmacs = {}
    gemm_at_dense_rate = 0.0
    for conv, macs in gemm_macs.items():
        gmacs[f'{conv} GEMM'] = macs / sparse_ms[f'{conv}_gemm'] * 1e-6
        gmacs[f'{conv} dense'] = conv_macs[conv] / dense_ms[conv] * 1e-6
        gemm_at_dense_rate += macs / gmacs[f'{conv} dense'] * 1e-6
    gemm_ms = sum(sparse_ms[f'{conv}_gemm'] for conv in gemm_macs)
    overhead_ms = sum(sparse_ms[s] for s in OVERHEAD_STAGES + ('rest', ))
    fixed_ms = overhead_ms + sum(sparse_ms[s] for s in SHARED_STAGES)
    at_dense_rate = row['sparse_ms'] - gemm_ms + gemm_at_dense_rate
    allowed = row['dense_ms'] * row['mac_share'] / TARGET_EFFICIENCY
    bound = dict(overhead_ms=overhead_ms, fixed_ms=fixed_ms, scaling_ms=row['sparse_ms'] - fixed_ms,
                 gemm_ms=gemm_ms, gemm_at_dense_rate_ms=gemm_at_dense_rate,
                 efficiency_at_dense_rate=row['dense_ms'] * row['mac_share'] / at_dense_rate,
                 allowed_ms=allowed, cut_ms=at_dense_rate - allowed)
    return dict(sparse_ms=sparse_ms, dense_ms=dense_ms, gmacs_per_s=gmacs, bound=bound)
