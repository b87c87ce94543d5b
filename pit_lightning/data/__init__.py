"""Benchmark datasets as LightningDataModules (channels-first batches for Conv1d TCNs)."""

from pit_lightning.data.boulanger import PianoRollDataModule, load_boulanger_rolls
from pit_lightning.data.cache import CACHE_ENV, cache_dir
from pit_lightning.data.chorales import ChoralesDataModule, load_chorale_rolls
from pit_lightning.data.pianoroll import RollDataModule, RollDataset, collate_rolls
from pit_lightning.data.ppg_dalia import PPGDaliaDataModule, WindowDataset
from pit_lightning.data.ucr import UCRDataModule, read_ts

__all__ = [
    "CACHE_ENV",
    "ChoralesDataModule",
    "PPGDaliaDataModule",
    "PianoRollDataModule",
    "RollDataModule",
    "RollDataset",
    "UCRDataModule",
    "WindowDataset",
    "cache_dir",
    "collate_rolls",
    "load_boulanger_rolls",
    "load_chorale_rolls",
    "read_ts",
]
