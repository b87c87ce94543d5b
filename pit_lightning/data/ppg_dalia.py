"""PPG-Dalia heart-rate estimation with TEMPONet's preprocessing.

The official release holds one pickle per subject, ``<root>/S<i>/S<i>.pkl`` for i = 1..15,
each a dict with ``signal -> wrist -> BVP`` (N x 1, 64 Hz), ``signal -> wrist -> ACC``
(M x 3, 32 Hz) and ``label``: the ECG heart rate in BPM of each 8 s window, windows
shifted by 2 s. TEMPONet feeds 4 channels at 32 Hz (PPG + 3-axis ACC), so the BVP is
halved in rate by averaging sample pairs (a light anti-alias filter; the pulse lies far
below 16 Hz). Window i spans samples [64 i, 64 i + 256) and is labelled ``label[i]``.
Channels are standardised with the mean and deviation of the training subjects only, so
no statistic of a held-out subject leaks into training.

Splits leave whole subjects out. Default: test S1, S2, S3; validation S4, S5; train the
other ten. The papers' leave-one-subject-out protocol is ``test_subjects=[k]`` for each k.
Extracted 32 Hz signals are cached (the pickles also carry large chest recordings that
make them slow to read).

Trust: unpickling runs code named in the file, so point ``root`` only at the official
release. Each subject's pickle is read once, by the extraction step; the cache it writes
holds plain tensors read with ``weights_only``, so later runs read no pickle.
"""

from __future__ import annotations

import bisect
import os
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from pit_lightning.data.cache import cache_dir, load_entry, save_entry, settings_key
from pit_lightning.data.splits import SplitDataModule
from pit_lightning.tasks import HeartRate

ALL_SUBJECTS = tuple(range(1, 16))
DEFAULT_TEST = (1, 2, 3)
DEFAULT_VAL = (4, 5)
SAMPLE_RATE = 32  # Hz, after resampling the BVP
WINDOW = 8 * SAMPLE_RATE  # 256 samples
SHIFT = 2 * SAMPLE_RATE  # 64 samples
CHANNELS = 4  # PPG, ACC x, ACC y, ACC z
EXTRACT_VERSION = 1
HOW_TO_GET = (
    "Download the PPG-DaLiA dataset from the UCI Machine Learning Repository, unzip it "
    "(its PPG_FieldStudy folder) and pass that folder as root: it must hold "
    "S1/S1.pkl ... S15/S15.pkl."
)


def subject_file(root: str | os.PathLike, subject: int) -> Path:
    return Path(root).expanduser() / f"S{subject}" / f"S{subject}.pkl"


def check_files(root: str | os.PathLike, subjects: Sequence[int]) -> None:
    """Fail early, naming what is missing and how to get it."""
    base = Path(root).expanduser()
    if not base.is_dir():
        raise FileNotFoundError(f"PPG-DaLiA directory not found: {base}. {HOW_TO_GET}")
    for subject in subjects:
        path = subject_file(base, subject)
        if not path.is_file():
            raise FileNotFoundError(
                f"PPG-DaLiA subject S{subject} not found: expected {path}. {HOW_TO_GET}"
            )


def halve_rate(signal: np.ndarray) -> np.ndarray:
    """64 Hz -> 32 Hz by averaging consecutive pairs (an odd last sample is dropped)."""
    pairs = len(signal) // 2
    return signal[: 2 * pairs].reshape(pairs, 2).mean(axis=1)


def extract_subject(data: dict) -> tuple[Tensor, Tensor]:
    """Signal (4, L) at 32 Hz covering exactly the labelled windows, and labels (W,) BPM."""
    wrist = data["signal"]["wrist"]
    ppg = halve_rate(np.asarray(wrist["BVP"], dtype=np.float64).reshape(-1))
    acc = np.asarray(wrist["ACC"], dtype=np.float64).reshape(-1, 3)
    labels = np.asarray(data["label"], dtype=np.float64).reshape(-1)
    length = min(len(ppg), len(acc))
    windows = min(len(labels), max(0, (length - WINDOW) // SHIFT + 1))
    if windows == 0:
        raise ValueError("recording shorter than one 8 s window")
    used = (windows - 1) * SHIFT + WINDOW
    signal = np.concatenate([ppg[None, :used], acc[:used].T])
    return torch.from_numpy(signal).float(), torch.from_numpy(labels[:windows]).float()


def load_subject(
    root: str | os.PathLike, subject: int, cache: str | os.PathLike | None = None
) -> tuple[Tensor, Tensor]:
    """:func:`extract_subject` of one subject's pickle, through the cache."""
    path = subject_file(root, subject).resolve()
    stat = path.stat()
    key = settings_key(
        {
            "version": EXTRACT_VERSION,
            "file": str(path),
            "size": stat.st_size,
            "mtime": stat.st_mtime_ns,
        }
    )
    entry = cache_dir(cache) / f"ppg_dalia-S{subject}-{key}.pt"
    payload = load_entry(entry, required=("signal", "labels"))
    if payload is not None:
        return payload["signal"], payload["labels"]
    with open(path, "rb") as f:
        data = pickle.load(f, encoding="latin1")  # the pickles were written by Python 2
    try:
        signal, labels = extract_subject(data)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: not in the PPG-DaLiA subject layout ({err})") from err
    save_entry(entry, {"signal": signal, "labels": labels})
    return signal, labels


class WindowDataset(Dataset):
    """8 s windows cut on the fly from whole normalised recordings (4x less memory)."""

    def __init__(self, signals: Sequence[Tensor], labels: Sequence[Tensor]) -> None:
        self.signals = list(signals)
        self.labels = list(labels)
        self.starts = np.cumsum([0] + [len(y) for y in self.labels]).tolist()

    def __len__(self) -> int:
        return self.starts[-1]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        subject = bisect.bisect_right(self.starts, index) - 1
        window = index - self.starts[subject]
        x = self.signals[subject][:, window * SHIFT : window * SHIFT + WINDOW]
        return x, self.labels[subject][window]


def channel_stats(signals: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation, shape (4, 1), over all given samples."""
    joined = torch.cat(list(signals), dim=1).double()
    mean = joined.mean(dim=1, keepdim=True)
    std = joined.std(dim=1, keepdim=True).clamp_min(1e-8)
    return mean.float(), std.float()


class PPGDaliaDataModule(SplitDataModule):
    """Heart rate from 8 s PPG + ACC windows; batches ``(x (B, 4, 256), y (B,) BPM)``.

    Args:
        root: folder holding ``S1/S1.pkl`` ... ``S15/S15.pkl``.
        test_subjects: held-out test subjects (default 1, 2, 3).
        val_subjects: validation subjects (default 4, 5).
        batch_size: windows per batch.
        subjects: subjects to use at all (default 1..15); training gets the rest.
        cache_dir: where extracted signals are kept; default ``$PIT_LIGHTNING_CACHE`` or
            ``~/.cache/pit_lightning``.
        num_workers: dataloader worker processes.
    """

    input_channels = CHANNELS

    def __init__(
        self,
        root: str,
        test_subjects: list[int] | None = None,
        val_subjects: list[int] | None = None,
        batch_size: int = 128,
        subjects: list[int] | None = None,
        cache_dir: str | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, num_workers)
        self.save_hyperparameters()
        self.root = root
        self.cache_dir = cache_dir
        self.split_subjects = self._splits(
            list(ALL_SUBJECTS if subjects is None else subjects),
            list(DEFAULT_TEST if test_subjects is None else test_subjects),
            list(DEFAULT_VAL if val_subjects is None else val_subjects),
        )
        self.mean: Tensor | None = None
        self.std: Tensor | None = None

    @staticmethod
    def _splits(subjects: list[int], test: list[int], val: list[int]) -> dict[str, list[int]]:
        unknown = sorted(set(test + val) - set(subjects))
        if unknown:
            raise ValueError(f"subjects {unknown} are not among the used subjects {subjects}")
        if set(test) & set(val):
            raise ValueError(f"subjects {sorted(set(test) & set(val))} are both test and val")
        train = [s for s in subjects if s not in test and s not in val]
        if not train:
            raise ValueError("no subject left for training")
        return {"train": train, "val": sorted(val), "test": sorted(test)}

    @property
    def task(self) -> HeartRate:
        return HeartRate()

    @property
    def output_channels(self) -> int:
        return self.task.output_channels

    def _all_subjects(self) -> list[int]:
        return [s for split in self.split_subjects.values() for s in split]

    def prepare_data(self) -> None:
        check_files(self.root, self._all_subjects())
        for subject in self._all_subjects():
            load_subject(self.root, subject, self.cache_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        check_files(self.root, self._all_subjects())
        loaded = {s: load_subject(self.root, s, self.cache_dir) for s in self._all_subjects()}
        self.mean, self.std = channel_stats([loaded[s][0] for s in self.split_subjects["train"]])
        for split, members in self.split_subjects.items():
            signals = [(loaded[s][0] - self.mean) / self.std for s in members]
            self.datasets[split] = WindowDataset(signals, [loaded[s][1] for s in members])
