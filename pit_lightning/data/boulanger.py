"""Boulanger-Lewandowski's piano-roll sets: JSB Chorales, Nottingham, MuseData, Piano-midi.de.

These are the files behind the next-step piano-roll results of Bai et al. and of the PIT
papers, published with Boulanger-Lewandowski, Bengio and Vincent's ICML 2012 paper on
modelling temporal dependencies in high-dimensional sequences. Each set comes in two
layouts, both read here:

* pickle: a dict with ``"train"``, ``"valid"`` and ``"test"``, each a list of pieces, each a
  list of time steps, each a list or tuple of the MIDI notes (21..108) sounding then;
* MATLAB ``.mat``: variables ``traindata``, ``validdata`` and ``testdata``, cell arrays of
  T x 88 0/1 matrices (reading them needs scipy).

Batches and loss match :mod:`pit_lightning.data.chorales`.

Trust: unpickling runs code named in the file, and the pickle layout is read at every
setup, so give only the published release (or a copy you made); the ``.mat`` layout
carries no code and is the safer choice for files of unknown origin.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pit_lightning.data.pianoroll import RollDataModule, roll_from_steps
from pit_lightning.tasks import NUM_KEYS

PICKLE_KEYS = {"train": "train", "val": "valid", "test": "test"}
MAT_KEYS = {"train": "traindata", "val": "validdata", "test": "testdata"}
SOURCE = (
    "the polyphonic music page of Nicolas Boulanger-Lewandowski (University of Montreal), "
    "which accompanies the ICML 2012 paper 'Modeling Temporal Dependencies in "
    "High-Dimensional Sequences' and offers JSB Chorales, Nottingham, MuseData and "
    "Piano-midi.de as .pickle and .mat files"
)


def _missing(path: Path) -> FileNotFoundError:
    return FileNotFoundError(
        f"Piano-roll file not found: {path} (looked in {path.parent.resolve()}). Expected one "
        f"of the Boulanger-Lewandowski piano-roll sets, e.g. 'JSB Chorales.pickle' or "
        f"'Nottingham.mat', at exactly that path. Download it from {SOURCE}."
    )


def load_pickle_rolls(path: Path) -> dict[str, list[Tensor]]:
    """Rolls of each split from the pickle layout (written by Python 2, hence latin1)."""
    with open(path, "rb") as f:
        data = pickle.load(f, encoding="latin1")
    if not isinstance(data, dict) or any(k not in data for k in PICKLE_KEYS.values()):
        raise ValueError(
            f"{path}: expected a dict with keys {sorted(PICKLE_KEYS.values())}, "
            f"got {type(data).__name__} {sorted(data) if isinstance(data, dict) else ''}"
        )
    return {
        split: [roll_from_steps(piece) for piece in data[key]] for split, key in PICKLE_KEYS.items()
    }


def _scipy_io():
    try:
        import scipy.io
    except ImportError as err:
        raise ImportError(
            "Reading the .mat piano-roll files needs the 'scipy' package (pip install scipy); "
            "the .pickle files need nothing extra."
        ) from err
    return scipy.io


def _matrix_roll(matrix: np.ndarray, path: Path) -> Tensor:
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[1] != NUM_KEYS:
        raise ValueError(f"{path}: expected T x {NUM_KEYS} matrices, got {matrix.shape}")
    return torch.from_numpy(matrix != 0)


def load_mat_rolls(path: Path) -> dict[str, list[Tensor]]:
    """Rolls of each split from the MATLAB layout (cell arrays of T x 88 matrices)."""
    scipy_io = _scipy_io()
    try:
        data = scipy_io.loadmat(path)
    except NotImplementedError as err:  # MATLAB v7.3 files are HDF5
        raise ValueError(f"{path}: MATLAB v7.3 files are not supported; save as v7") from err
    missing = [k for k in MAT_KEYS.values() if k not in data]
    if missing:
        raise ValueError(f"{path}: missing variables {missing}")
    return {
        split: [_matrix_roll(m, path) for m in np.asarray(data[key], dtype=object).ravel()]
        for split, key in MAT_KEYS.items()
    }


def load_boulanger_rolls(path: str | os.PathLike) -> dict[str, list[Tensor]]:
    """Rolls (T, 88) of ``"train"``, ``"val"``, ``"test"`` from a .pickle/.pkl or .mat file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise _missing(path)
    if path.suffix.lower() == ".mat":
        return load_mat_rolls(path)
    return load_pickle_rolls(path)


class PianoRollDataModule(RollDataModule):
    """Next-step prediction on a Boulanger-Lewandowski piano-roll file; batches ``(x, y, mask)``.

    The file's own train/valid/test split is used unchanged, so results compare with the
    literature.

    Args:
        path: the .pickle (or .pkl) or .mat file, e.g. ``data/JSB Chorales.pickle``.
        batch_size: pieces per batch (Bai et al. train on one piece at a time).
        num_workers: dataloader worker processes.
    """

    def __init__(self, path: str, batch_size: int = 16, num_workers: int = 0) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.save_hyperparameters()
        self.path = path

    def prepare_data(self) -> None:
        path = Path(self.path).expanduser()
        if not path.is_file():
            raise _missing(path)

    def load_splits(self) -> dict[str, list[Tensor]]:
        return load_boulanger_rolls(self.path)
