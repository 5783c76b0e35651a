"""Evaluation results across processes in dataset order, whatever the sampler's split.

mmengine's ``BaseMetric.evaluate(size)`` gathers the processes' results with
``collect_results``, which interleaves them rank by rank (rank 0's first result, rank 1's
first, ..., rank 0's second, ...; mmengine >= 0.10.3 goes on past the shorter lists and drops
``None`` results, earlier versions stop at the shortest list) and keeps the first ``size``.
That restores dataset order for ``DefaultSampler``, which deals single samples round-robin and
pads every rank to the same length. :class:`~mmeff.engine.VideoSampler` deals whole streams
instead, so the ranks hold runs of consecutive indices of different lengths (none at all where
there are more ranks than streams), and the interleave mixes the streams' frames up.

:class:`DatasetOrderEvaluator` (used by mmeff's video loops) runs before that: each metric's
results, tagged with the dataset index of their sample, are gathered on every rank, put in
dataset order, and dealt back round-robin, padded to equal lengths, so mmengine's own
``collect_results`` reassembles exactly the dataset-ordered list, and
``evaluate(len(results))`` drops only the padding. Rank 0 then computes each metric on the
same list, in the same order, as a single process does.
"""
from typing import Any, Dict, List, Sequence, Tuple

from mmengine.dist import all_gather_object, get_dist_info
from mmengine.evaluator import Evaluator
from torch.utils.data import DataLoader

IndexedResults = List[Tuple[int, Any]]


def sampler_indices(dataloader: DataLoader) -> List[int]:
    """The dataset indices this process evaluates, in order (its batch sampler, flattened)."""
    return [index for batch in dataloader.batch_sampler for index in batch]


def dataset_order(parts: Sequence[IndexedResults]) -> List[Any]:
    """The results of all ranks' ``(dataset index, result)`` lists by dataset index; an index
    that several ranks evaluated (a sampler's padding) counts once."""
    by_index: Dict[int, Any] = {}
    for part in parts:
        for index, result in part:
            by_index.setdefault(index, result)
    return [by_index[index] for index in sorted(by_index)]


def deal_round_robin(results: List[Any], rank: int, world_size: int) -> List[Any]:
    """Rank ``rank``'s share of ``results`` dealt round-robin, padded (with the first result)
    so every rank holds ``ceil(len(results) / world_size)``: interleaving the shares rank by
    rank gives back ``results`` followed by the padding."""
    share = results[rank::world_size]
    length = -(-len(results) // world_size)
    return share + results[:1] * (length - len(share))


class DatasetOrderEvaluator(Evaluator):
    """mmengine's ``Evaluator`` over ``metrics`` whose results reach rank 0 in dataset order
    (module doc); in one process it is mmengine's own.

    Args:
        metrics: the metrics (built ``BaseMetric`` objects or their configs).
        dataloader: the loop's dataloader; its batch sampler says which dataset index each of
            this rank's results belongs to (every metric must hold one result per sample).
    """

    def __init__(self, metrics, dataloader: DataLoader):
        super().__init__(metrics)
        self.dataloader = dataloader

    @classmethod
    def of(cls, evaluator: Evaluator, dataloader: DataLoader) -> 'DatasetOrderEvaluator':
        """One over ``evaluator``'s metrics (the same objects) and its dataset meta."""
        ordered = cls(evaluator.metrics, dataloader)
        if evaluator.dataset_meta is not None:
            ordered.dataset_meta = evaluator.dataset_meta
        return ordered

    def evaluate(self, size: int) -> dict:
        rank, world_size = get_dist_info()
        if world_size == 1:
            return super().evaluate(size)
        indices = sampler_indices(self.dataloader)
        total = None
        for metric in self.metrics:
            if len(metric.results) != len(indices):
                raise ValueError(
                    f'{type(metric).__name__} holds {len(metric.results)} results for the '
                    f'{len(indices)} samples of rank {rank}: ordering results across ranks '
                    'needs one result per sample')
            ordered = dataset_order(all_gather_object(list(zip(indices, metric.results))))
            metric.results = deal_round_robin(ordered, rank, world_size)
            total = len(ordered)
        return super().evaluate(size if total is None else total)


__all__ = ['DatasetOrderEvaluator', 'dataset_order', 'deal_round_robin', 'sampler_indices']
