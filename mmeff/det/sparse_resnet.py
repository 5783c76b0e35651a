"""``SparseResNet``: mmdet's ResNet with sampling-interpolation bottlenecks."""
from typing import Dict, Optional, Sequence

import torch
from mmdet.models.backbones import ResNet
from mmdet.models.layers import ResLayer
from mmdet.registry import MODELS
from torch import Tensor

from .sparse_bottleneck import SparseBottleneck


@MODELS.register_module()
class SparseResNet(ResNet):
    """mmdet's ``ResNet`` whose bottlenecks in ``sparse_stages`` are
    :class:`SparseBottleneck` s. Its state dict is the stock one plus the mask heads' and the
    interpolants' entries, so stock ResNet weights load (those keys stay initialised).

    After a training forward, :meth:`sampling_losses` gives the losses that steer density:

    - ``loss_sparse`` (``sparse_loss_weight`` = gamma > 0): the paper's
      ``gamma / blocks * sum_b (0.25 mean p1 + 0.75 mean p2)``;
    - ``loss_budget`` (``budget`` set): ``budget_weight * (share - budget)^2``, with
      ``share`` the expected executed share of the sparse blocks' conv MACs (conv1 at
      mean p1, conv2 and conv3 at mean p2);

    and ``mac_share`` (logged, not a loss). A detector adds them to its loss dict
    (:class:`~mmeff.det.SamplingFasterRCNN`, :class:`~mmeff.det.SamplingRetinaNet`).

    Args:
        sparse_stages: per stage, whether its blocks sample (None: every stage).
        integration, interpolant, grid_interval: as :class:`SparseBottleneck`.
        sparse_loss_weight: gamma of ``loss_sparse`` (0: no such loss).
        budget: target share of the sparse blocks' conv MACs in (0, 1], or None.
        budget_weight: weight of ``loss_budget``.
        **kwargs: as mmdet's ``ResNet`` (depth 50, 101 or 152: bottleneck depths).
    """

    def __init__(self, depth: int, sparse_stages: Optional[Sequence[bool]] = None,
                 integration: str = 'inner', interpolant: Optional[Dict] = None,
                 grid_interval: int = 11, sparse_loss_weight: float = 0.1,
                 budget: Optional[float] = None, budget_weight: float = 1.0, **kwargs):
        if depth not in (50, 101, 152):
            raise ValueError(f'SparseResNet: depth must be 50, 101 or 152 (bottleneck blocks), '
                             f'got {depth}')
        if budget is not None and not 0 < budget <= 1:
            raise ValueError(f'SparseResNet: budget must be in (0, 1] or None, got {budget}')
        if sparse_loss_weight < 0 or budget_weight < 0:
            raise ValueError('SparseResNet: sparse_loss_weight and budget_weight must be >= 0')
        num_stages = kwargs.get('num_stages', 4)
        self.sparse_stages = (True, ) * num_stages if sparse_stages is None else tuple(
            bool(s) for s in sparse_stages)
        self.sampling_cfg = dict(integration=integration, interpolant=interpolant,
                                 grid_interval=grid_interval)
        self.sparse_loss_weight = sparse_loss_weight
        self.budget = budget
        self.budget_weight = budget_weight
        super().__init__(depth, **kwargs)
        if len(self.sparse_stages) != len(self.res_layers):
            raise ValueError(f'SparseResNet: sparse_stages needs {len(self.res_layers)} entries, '
                             f'got {len(self.sparse_stages)}')

    def make_res_layer(self, **kwargs) -> ResLayer:
        """The stock stage, of SparseBottlenecks where ``sparse_stages`` says so."""
        stage = len(self.res_layers)  # ResNet appends each stage after building it
        if stage < len(self.sparse_stages) and self.sparse_stages[stage]:
            kwargs = dict(kwargs, block=SparseBottleneck, **self.sampling_cfg)
        return ResLayer(**kwargs)

    def sparse_blocks(self) -> list:
        return [m for m in self.modules() if isinstance(m, SparseBottleneck)]

    def sampling_losses(self) -> Dict[str, Tensor]:
        """The density losses and ``mac_share`` of the last training forward (see the class)."""
        blocks = self.sparse_blocks()
        if not blocks:
            return {}
        losses = {}
        if self.sparse_loss_weight > 0:
            total = sum(block.sampling_loss() for block in blocks)
            losses['loss_sparse'] = self.sparse_loss_weight * total / len(blocks)
        executed, dense = [], 0.0
        for block in blocks:
            macs = block.macs_per_image(block.sampling_input_size)
            p_first, p_last = block.sampling_probabilities[0], block.sampling_probabilities[-1]
            executed.append(macs['conv1'] * p_first.mean() + macs['conv23'] * p_last.mean())
            dense += macs['conv1'] + macs['conv23']
        share = torch.stack(executed).sum() / dense
        if self.budget is not None:
            losses['loss_budget'] = self.budget_weight * (share - self.budget)**2
        losses['mac_share'] = share.detach()
        return losses
