"""Batches of sequences of similar length, for datasets whose pieces are padded to the
longest one of their batch.

The Bach chorales run from 32 to 193 steps; in random batches of 16 half of every
training step convolves padding. Sorting what goes into a batch by length cuts that
waste; drawing the pieces of a few batches at random first keeps each batch's make-up
random from epoch to epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import BatchSampler, Sampler


class LengthBatches(BatchSampler):
    """Batches of ``batch_size`` indices of ``sampler``, grouped by length.

    The indices ``sampler`` yields are taken ``pool`` batches at a time, each pool
    sorted by ``lengths`` and cut into batches; with ``shuffle`` the batches are then
    yielded in random order (the global torch generator), else shortest first.
    ``pool=None`` sorts everything ``sampler`` yields at once (what evaluation wants).
    A ``torch.utils.data.BatchSampler`` that wraps an index sampler, so that Lightning
    can swap in a distributed one.
    """

    def __init__(self, sampler: Sampler[int] | Sequence[int], lengths: Sequence[int],
                 batch_size: int, pool: int | None = 8, shuffle: bool = True) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if pool is not None and pool < 1:
            raise ValueError(f"pool must be >= 1 batch or None, got {pool}")
        super().__init__(sampler, batch_size, drop_last=False)
        self.lengths = lengths
        self.pool = pool
        self.shuffle = shuffle

    def _pool_size(self, count: int) -> int:
        return max(count, 1) if self.pool is None else self.pool * self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        indices = list(self.sampler)
        size = self._pool_size(len(indices))
        batches = []
        for start in range(0, len(indices), size):
            pool = sorted(indices[start:start + size], key=self.lengths.__getitem__)
            batches += [pool[i:i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches)).tolist()]
        return iter(batches)

    def __len__(self) -> int:
        count = len(self.sampler)
        size = self._pool_size(count)
        full, rest = divmod(count, size)
        return full * math.ceil(size / self.batch_size) + math.ceil(rest / self.batch_size)
