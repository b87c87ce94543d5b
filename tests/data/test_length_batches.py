"""Length-grouped batches: every piece once per epoch, little padding, any sampler."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import RandomSampler, SequentialSampler

from pit_lightning.data import ChoralesDataModule
from pit_lightning.data.length_batches import LengthBatches

LENGTHS = [int(n) for n in torch.randint(10, 200, (101,), generator=torch.Generator()
                                           .manual_seed(0))]


def padded(batches, lengths) -> int:
    return sum(max(lengths[i] for i in batch) * len(batch) for batch in batches)


@pytest.mark.parametrize("pool", [1, 3, 8, None])
def test_each_piece_once_in_sorted_pools(pool):
    sampler = LengthBatches(RandomSampler(range(101)), LENGTHS, 16, pool)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 7
    assert sorted(i for batch in batches for i in batch) == list(range(101))
    assert all(1 <= len(batch) <= 16 for batch in batches)
    assert all([LENGTHS[i] for i in batch] == sorted(LENGTHS[i] for i in batch)
               for batch in batches)


def test_bigger_pools_pad_less_and_batches_change_between_epochs():
    torch.manual_seed(1)
    waste = {pool: padded(list(LengthBatches(RandomSampler(range(101)), LENGTHS, 16, pool)),
                          LENGTHS) for pool in (1, 8, None)}
    assert waste[None] <= waste[8] < waste[1]
    sampler = LengthBatches(RandomSampler(range(101)), LENGTHS, 16, 2)
    assert list(sampler) != list(sampler)


def test_evaluation_order_is_sorted_and_fixed():
    sampler = LengthBatches(SequentialSampler(range(101)), LENGTHS, 16, None, shuffle=False)
    flat = [i for batch in sampler for i in batch]
    assert [LENGTHS[i] for i in flat] == sorted(LENGTHS)
    assert list(sampler) == list(sampler)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        LengthBatches(range(3), [1, 2, 3], 0)
    with pytest.raises(ValueError, match="pool must be >= 1"):
        LengthBatches(range(3), [1, 2, 3], 2, pool=0)


def test_chorale_batches_carry_less_padding(chorale_cache):
    """The chorale loaders batch by length: fewer padded steps than random batches."""
    data = ChoralesDataModule(batch_size=4, cache_dir=chorale_cache)
    data.setup("fit")
    lengths = [roll.shape[0] for roll in data.datasets["train"].rolls]
    torch.manual_seed(0)
    steps = sum(x.shape[0] * x.shape[-1] for x, _, _ in data.train_dataloader())
    frames = sum(int(mask.sum()) for _, _, mask in data.train_dataloader())
    random = padded([list(b) for b in torch.randperm(len(lengths)).split(4)],
                    [n - 1 for n in lengths])
    assert frames == sum(n - 1 for n in lengths)  # every piece, once
    assert steps < random
    val = [x.shape[-1] for x, _, _ in data.val_dataloader()]
    assert val == sorted(val)
