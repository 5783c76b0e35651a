"""DatasetOrderEvaluator: results dealt by whole streams reach the metrics in dataset order,
checked with mmengine's own collect_results in a real two- and three-process gloo group."""
import os
import tempfile
from typing import List

import pytest
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from mmengine.evaluator import BaseMetric, Evaluator
from torch.utils.data import DataLoader

from mmeff.engine.ordered_evaluation import (DatasetOrderEvaluator, dataset_order, deal_round_robin,
                                             sampler_indices)


class OrderMetric(BaseMetric):
    """Appends each sample's index; reports the list rank 0 computes on."""

    def process(self, data_batch, data_samples) -> None:
        self.results.extend(data_samples)

    def compute_metrics(self, results: list) -> dict:
        return dict(order=list(results))


def streams_of_rank(rank: int, world_size: int) -> List[int]:
    """Streams [0..9], [10..11], [12..14] dealt whole, round-robin (VideoSampler's split)."""
    streams = [list(range(10)), [10, 11], [12, 13, 14]]
    return [i for s in streams[rank::world_size] for i in s]


def evaluate_on_rank(rank: int, world_size: int, init_file: str, evaluator_type: str,
                     returned) -> None:
    os.chdir(os.path.dirname(init_file))  # collect_results makes its folder in the cwd
    torch_dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                                  world_size=world_size)
    indices = streams_of_rank(rank, world_size)
    loader = DataLoader(range(15), sampler=indices, batch_size=4, collate_fn=list)
    metric = OrderMetric()
    evaluator = (DatasetOrderEvaluator([metric], loader)
                 if evaluator_type == 'ordered' else Evaluator([metric]))
    for batch in loader:  # each sample's result is its dataset index
        evaluator.process(data_samples=batch)
    returned[rank] = evaluator.evaluate(15)['order']
    torch_dist.destroy_process_group()


def run_ranks(world_size: int, evaluator_type: str) -> List[list]:
    with tempfile.TemporaryDirectory() as tmp:
        returned = mp.Manager().dict()
        mp.spawn(evaluate_on_rank, args=(world_size, f'{tmp}/init', evaluator_type, returned),
                 nprocs=world_size)
        return [returned[rank] for rank in range(world_size)]


@pytest.mark.slow
@pytest.mark.parametrize('world_size', [2, 4])
def test_streams_dealt_unevenly_reach_the_metric_in_dataset_order(world_size):
    # 4 ranks on 3 streams: one rank holds nothing, and nothing hangs
    for order in run_ranks(world_size, 'ordered'):
        assert order == list(range(15))


@pytest.mark.slow
def test_mmengine_alone_interleaves_uneven_parts():
    """The upstream behaviour the evaluator answers: collect_results interleaves the ranks'
    lists (mmengine >= 0.10.3; earlier versions also cut them to the shortest)."""
    order = run_ranks(2, 'mmengine')[0]  # rank 0: [0..9, 12..14], rank 1: [10, 11]
    assert order[:4] == [0, 10, 1, 11] and order != list(range(15))


def test_round_robin_shares_interleave_back_to_the_list_and_padding():
    for size in range(7):
        results = list(range(size))
        for world_size in (1, 2, 3):
            shares = [deal_round_robin(results, r, world_size) for r in range(world_size)]
            assert len({len(s) for s in shares}) == 1
            interleaved = [x for column in zip(*shares) for x in column]
            assert interleaved[:size] == results


def test_dataset_order_sorts_by_index_and_counts_padding_once():
    parts = [[(0, 'a'), (2, 'c'), (0, 'a')], [(1, 'b')], []]
    assert dataset_order(parts) == ['a', 'b', 'c']


def test_sampler_indices_follow_the_batch_sampler():
    loader = DataLoader(range(6), sampler=[4, 5, 0, 1], batch_size=3)
    assert sampler_indices(loader) == [4, 5, 0, 1]


def test_made_of_an_evaluator_it_keeps_its_metrics_and_dataset_meta():
    metric = OrderMetric()
    evaluator = Evaluator([metric])
    evaluator.dataset_meta = dict(classes=('a', ))
    ordered = DatasetOrderEvaluator.of(evaluator, DataLoader(range(1)))
    assert ordered.metrics == [metric] and ordered.dataset_meta == dict(classes=('a', ))


def test_one_process_is_mmengines_evaluator_and_a_count_mismatch_is_refused(monkeypatch):
    loader = DataLoader(range(3), batch_size=2, collate_fn=list)
    evaluator = DatasetOrderEvaluator([OrderMetric()], loader)
    evaluator.process(data_samples=[2, 1, 0])
    assert evaluator.evaluate(3) == {'order': [2, 1, 0]}
    monkeypatch.setattr('mmeff.engine.ordered_evaluation.get_dist_info', lambda: (0, 2))
    evaluator.process(data_samples=[0, 1])
    with pytest.raises(ValueError, match='OrderMetric holds 2 results for the 3 samples'):
        evaluator.evaluate(3)
