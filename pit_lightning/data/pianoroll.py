"""88-key piano rolls shared by the chorale and Boulanger-Lewandowski datasets.

A piece is stored as a bool tensor (T, 88): key k sounds at step t when roll[t, k] is
true, key 0 being MIDI note 21 (A0) and key 87 MIDI note 108 (C8). Batches are
channels-first for Conv1d models and padded at the end, so a causal model's outputs at
valid steps never see the padding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset, RandomSampler, Sampler, SequentialSampler

from pit_lightning.data.length_batches import LengthBatches
from pit_lightning.data.splits import SplitDataModule
from pit_lightning.tasks import NUM_KEYS, PolyphonicMusic

LOWEST_NOTE = 21  # MIDI number of key 0 (A0)
HIGHEST_NOTE = LOWEST_NOTE + NUM_KEYS - 1  # 108 (C8)
SPLITS = ("train", "val", "test")


def roll_from_steps(steps: Sequence[Iterable[int]]) -> Tensor:
    """Roll (T, 88) from T lists of sounding MIDI notes; notes outside 21..108 are dropped."""
    roll = torch.zeros(len(steps), NUM_KEYS, dtype=torch.bool)
    for t, notes in enumerate(steps):
        for note in notes:
            key = round(float(note)) - LOWEST_NOTE
            if 0 <= key < NUM_KEYS:
                roll[t, key] = True
    return roll


def pack_rolls(rolls: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Concatenate rolls into one (sum T, 88) tensor plus their lengths, for storage."""
    lengths = torch.tensor([r.shape[0] for r in rolls], dtype=torch.long)
    flat = torch.cat(list(rolls)) if rolls else torch.zeros(0, NUM_KEYS, dtype=torch.bool)
    return flat, lengths


def unpack_rolls(flat: Tensor, lengths: Tensor) -> list[Tensor]:
    """Inverse of :func:`pack_rolls`."""
    if flat.dim() != 2 or flat.shape[1] != NUM_KEYS or int(lengths.sum()) != flat.shape[0]:
        raise ValueError("packed rolls have inconsistent shapes")
    return list(torch.split(flat.bool(), lengths.tolist()))


class RollDataset(Dataset):
    """Pieces as (T, 88) bool rolls; pieces too short for one prediction are skipped."""

    def __init__(self, rolls: Sequence[Tensor]) -> None:
        self.rolls = [r for r in rolls if r.shape[0] >= 2]

    def __len__(self) -> int:
        return len(self.rolls)

    def __getitem__(self, index: int) -> Tensor:
        return self.rolls[index]

    def frames(self) -> int:
        """Number of predicted frames (each piece predicts T - 1 steps)."""
        return sum(r.shape[0] - 1 for r in self.rolls)


def collate_rolls(rolls: Sequence[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """Batch ``(x, y, mask)`` for next-step prediction.

    x = roll[:-1] and y = roll[1:], both (B, 88, T) float, T the longest piece minus one;
    mask (B, T) is true on real frames and false on the end padding.
    """
    lengths = [r.shape[0] - 1 for r in rolls]
    steps = max(lengths)
    x = torch.zeros(len(rolls), NUM_KEYS, steps)
    y = torch.zeros(len(rolls), NUM_KEYS, steps)
    mask = torch.zeros(len(rolls), steps, dtype=torch.bool)
    for i, (roll, n) in enumerate(zip(rolls, lengths, strict=True)):
        channels_first = roll.t().float()
        x[i, :, :n] = channels_first[:, :-1]
        y[i, :, :n] = channels_first[:, 1:]
        mask[i, :n] = True
    return x, y, mask


class RollDataModule(SplitDataModule):
    """Train/val/test piano rolls behind the usual dataloaders; subclasses load the rolls.

    Pieces are batched with others of similar length (:class:`LengthBatches`): training
    draws ``length_pool`` batches' worth of pieces at random and sorts them by length
    before cutting batches; evaluation sorts the whole split.
    """

    input_channels = NUM_KEYS
    collate_fn = staticmethod(collate_rolls)
    length_pool = 8

    def __init__(self, batch_size: int = 16, num_workers: int = 0) -> None:
        super().__init__(batch_size, num_workers)

    @property
    def task(self) -> PolyphonicMusic:
        return PolyphonicMusic()

    @property
    def output_channels(self) -> int:
        return self.task.output_channels

    def load_splits(self) -> dict[str, list[Tensor]]:
        """Rolls of each split, keyed ``"train"``, ``"val"``, ``"test"``."""
        raise NotImplementedError

    def batches(self, split: str, shuffle: bool) -> Sampler[list[int]]:
        dataset = self.datasets[split]
        lengths = [roll.shape[0] for roll in dataset.rolls]
        indices = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
        return LengthBatches(indices, lengths, self.batch_size,
                             self.length_pool if shuffle else None, shuffle)

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets:
            splits = self.load_splits()
            self.datasets = {name: RollDataset(splits[name]) for name in SPLITS}
