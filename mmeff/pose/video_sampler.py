"""``VideoSampler``: whole tracks per process, frames in order, for distributed video evaluation."""
from typing import Iterator, List, Optional

from mmengine.dist import get_dist_info
from mmengine.registry import DATA_SAMPLERS
from torch.utils.data import Sampler


@DATA_SAMPLERS.register_module()
class VideoSampler(Sampler):
    """Deals whole streams (tracks) of a ``VideoPoseDataset`` to the processes, round-robin by
    stream, each stream's frames in temporal order; one process gets everything.

    mmengine's ``DefaultSampler`` deals single samples round-robin, which splits every track
    across processes and breaks the frame order the SkipConv streams rely on.

    Args:
        dataset: a ``VideoPoseDataset`` (anything with ``stream_keys()``, one key per index,
            each stream's indices consecutive).
        seed: unused (evaluation order is fixed); accepted because the runner passes it.
    """

    def __init__(self, dataset, seed: Optional[int] = None):
        rank, world_size = get_dist_info()
        keys = dataset.stream_keys()
        streams: List[List[int]] = []
        for idx, key in enumerate(keys):
            if not streams or keys[streams[-1][0]] != key:
                streams.append([])
            streams[-1].append(idx)
        self.indices = [i for s in streams[rank::world_size] for i in s]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        """Nothing to reshuffle: evaluation order is fixed."""
