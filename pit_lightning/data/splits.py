"""The dataloader plumbing every datamodule here shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
from torch.utils.data import DataLoader, Dataset, Sampler


class SplitDataModule(L.LightningDataModule):
    """Train/val/test datasets behind the usual dataloaders.

    Subclasses fill ``self.datasets`` (keys ``"train"``, ``"val"``, ``"test"``) in an
    idempotent ``setup``, and may set ``collate_fn``.
    """

    collate_fn: Callable[[list[Any]], Any] | None = None

    def __init__(self, batch_size: int, num_workers: int = 0) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.datasets: dict[str, Dataset] = {}

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        sampler = self.batches(split, shuffle)
        batching: dict[str, Any] = ({"batch_sampler": sampler} if sampler is not None else
                                    {"batch_size": self.batch_size, "shuffle": shuffle})
        return DataLoader(
            self.datasets[split],
            num_workers=self.num_workers,
            collate_fn=self.collate_fn,
            persistent_workers=self.num_workers > 0,
            **batching,
        )

    def batches(self, split: str, shuffle: bool) -> Sampler[list[int]] | None:
        """The batch sampler of ``split``; None (the default): ``batch_size`` samples at
        random (``shuffle``) or in order."""
        return None

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
