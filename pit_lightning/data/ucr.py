"""UCR/UEA time-series classification sets in the ``.ts`` format.

The archive's files come in pairs, ``<name>_TRAIN.ts`` and ``<name>_TEST.ts``: a header
of ``@key value`` lines, then ``@data`` and one series per line, its dimensions
separated by ``:`` (values by commas) and the class label last. The ``aeon`` package
ships a few real sets inside its wheel (ArrowHead, ACSF1, GunPoint, BasicMotions, ...),
so they work offline: without ``root`` the files are read from aeon's data folder,
without importing aeon itself. Any other set of the archive works through ``root``.

The official test split is kept as the test set; validation is a stratified share of
the official training split. Channels are standardised with training statistics only.
Shorter series (sets of unequal length) are zero-padded at the start, so the newest
sample of every series sits at the last step, where a causal TCN reads its output.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from pit_lightning.data.splits import SplitDataModule
from pit_lightning.tasks.classification import Classification

INSTALL_HINT = "pip install 'pit-lightning[ucr]' (aeon ships the files) or pass root="


@dataclass(frozen=True)
class SeriesSet:
    """Series (N, C, T) as float32, labels (N,) as class indices, class names in order."""

    series: Tensor
    labels: Tensor
    classes: tuple[str, ...]


def bundled_root() -> Path:
    """aeon's folder of bundled sets (found without importing aeon)."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"no UCR/UEA root given and aeon is not installed: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def find_split(name: str, split: str, root: str | os.PathLike | None = None) -> Path:
    """The ``.ts`` file of ``split`` ("TRAIN" or "TEST"), in ``root`` or ``root/name``."""
    base = Path(root).expanduser() if root is not None else bundled_root()
    for folder in (base / name, base):
        path = folder / f"{name}_{split}.ts"
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"UCR/UEA set {name!r}: no {name}_{split}.ts in {base} or {base / name}"
        + ("" if root is not None else f" ({INSTALL_HINT})")
    )


def read_ts(path: str | os.PathLike, classes: tuple[str, ...] | None = None) -> SeriesSet:
    """Parse one ``.ts`` file; ``classes`` fixes the label order (else the header's)."""
    path = Path(path)
    header: dict[str, str] = {}
    rows: list[tuple[list[list[float]], str]] = []
    in_data = False
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if line.lower() == "@data":
                    in_data = True
                elif line.startswith("@"):
                    key, _, value = line[1:].partition(" ")
                    header[key.lower()] = value.strip()
                continue
            *dims, label = line.split(":")
            if not dims:
                raise ValueError(f"{path}:{number}: a series needs values and a label")
            try:
                values = [[float(v) for v in dim.split(",")] for dim in dims]
            except ValueError as error:
                raise ValueError(f"{path}:{number}: {error} (missing values are not supported)")\
                    from error
            rows.append((values, label.strip()))
    if not rows:
        raise ValueError(f"{path}: no series after @data")
    if classes is None:
        declared = header.get("classlabel", "").split()
        classes = tuple(declared[1:]) if declared[:1] == ["true"] and len(declared) > 1 \
            else tuple(sorted({label for _, label in rows}))
    index = {name: i for i, name in enumerate(classes)}
    channels = len(rows[0][0])
    length = max(len(dim) for values, _ in rows for dim in values)
    series = torch.zeros(len(rows), channels, length)
    labels = torch.empty(len(rows), dtype=torch.long)
    for i, (values, label) in enumerate(rows):
        if len(values) != channels:
            raise ValueError(f"{path}: series {i} has {len(values)} dimensions, not {channels}")
        if label not in index:
            raise ValueError(f"{path}: series {i} has label {label!r}, not one of {classes}")
        for c, dim in enumerate(values):
            series[i, c, length - len(dim):] = torch.tensor(dim)
        labels[i] = index[label]
    return SeriesSet(series, labels, tuple(classes))


def stratified_split(labels: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Indices (train, val): ``fraction`` of each class (at least one where it has two)."""
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for label in labels.unique():
        members = (labels == label).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = min(max(round(len(members) * fraction), 1), len(members) - 1)
        val.append(members[:n_val])
        train.append(members[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


class UCRDataModule(SplitDataModule):
    """A UCR/UEA classification set; batches ``(x (B, C, T), y (B,))``.

    Args:
        name: the set's name, e.g. ``"ArrowHead"``, ``"ACSF1"``.
        root: folder with ``<name>_TRAIN.ts``/``<name>_TEST.ts`` (or a ``<name>/``
            subfolder); default: the sets bundled with aeon.
        batch_size: series per batch.
        val_fraction: share of each class of the training split held out for validation.
        seed: seed of the validation split (not of training).
        num_workers: dataloader worker processes.
    """

    def __init__(
        self,
        name: str,
        root: str | None = None,
        batch_size: int = 16,
        val_fraction: float = 0.2,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, num_workers)
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        self.save_hyperparameters()
        self.name = name
        self.root = root
        self.val_fraction = val_fraction
        self.seed = seed
        # Read now: the task (class count) and input shape are needed before setup.
        self.train_set = read_ts(find_split(name, "TRAIN", root))
        self.test_set = read_ts(find_split(name, "TEST", root), self.train_set.classes)
        if self.test_set.series.shape[1] != self.train_set.series.shape[1]:
            raise ValueError(f"{name}: train and test splits differ in channel count")
        self.task = Classification(len(self.train_set.classes))

    @property
    def input_shape(self) -> tuple[int, int]:
        """(channels, length) of one series."""
        train, test = self.train_set.series, self.test_set.series
        return train.shape[1], max(train.shape[2], test.shape[2])

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        length = self.input_shape[1]
        train_idx, val_idx = stratified_split(self.train_set.labels, self.val_fraction, self.seed)
        series = _pad_to(self.train_set.series, length)
        mean = series[train_idx].mean(dim=(0, 2), keepdim=True)
        std = series[train_idx].std(dim=(0, 2), keepdim=True).clamp_min(1e-8)
        labels = self.train_set.labels
        self.datasets = {
            "train": TensorDataset((series[train_idx] - mean) / std, labels[train_idx]),
            "val": TensorDataset((series[val_idx] - mean) / std, labels[val_idx]),
            "test": TensorDataset((_pad_to(self.test_set.series, length) - mean) / std,
                                  self.test_set.labels),
        }


def _pad_to(series: Tensor, length: int) -> Tensor:
    return torch.nn.functional.pad(series, (length - series.shape[2], 0))
