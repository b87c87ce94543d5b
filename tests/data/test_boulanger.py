"""Boulanger-Lewandowski piano-roll files in their pickle and .mat layouts."""

import pickle
import sys

import numpy as np
import pytest
import torch

from pit_lightning.data import PianoRollDataModule, load_boulanger_rolls

PIECES = {
    "train": [[(60, 64, 67), (60,), (), (21, 108)], [[62, 65], [62, 65]], [(48, 52, 55)] * 5],
    "valid": [[(20, 60), (109,), (72,)]],  # 20 and 109 lie outside the 88 keys
    "test": [[(70,), (71,), (72,), (73,)], [(40, 41)] * 2],
}


def _expected_roll(steps):
    roll = torch.zeros(len(steps), 88, dtype=torch.bool)
    for t, notes in enumerate(steps):
        for n in notes:
            if 21 <= n <= 108:
                roll[t, n - 21] = True
    return roll


def _write_pickle(path):
    with open(path, "wb") as f:
        pickle.dump(PIECES, f, protocol=2)
    return path


def _write_mat(path):
    scipy_io = pytest.importorskip("scipy.io")
    cells = {}
    for key, name in (("train", "traindata"), ("valid", "validdata"), ("test", "testdata")):
        cell = np.empty((1, len(PIECES[key])), dtype=object)
        for i, steps in enumerate(PIECES[key]):
            cell[0, i] = _expected_roll(steps).numpy().astype(np.float64)
        cells[name] = cell
    scipy_io.savemat(path, cells)
    return path


@pytest.mark.parametrize("writer, name", [(_write_pickle, "JSB.pickle"), (_write_mat, "JSB.mat")])
def test_both_layouts_give_the_same_rolls(tmp_path, writer, name):
    rolls = load_boulanger_rolls(writer(tmp_path / name))
    for split, key in (("train", "train"), ("val", "valid"), ("test", "test")):
        expected = [_expected_roll(steps) for steps in PIECES[key]]
        assert len(rolls[split]) == len(expected)
        assert all(torch.equal(a, b) for a, b in zip(rolls[split], expected, strict=True))


def test_datamodule_batches(tmp_path):
    dm = PianoRollDataModule(str(_write_pickle(tmp_path / "set.pickle")), batch_size=8)
    assert dm.input_channels == 88 and dm.task.metric_name == "nll"
    dm.setup("fit")
    x, y, mask = next(iter(dm.val_dataloader()))
    assert x.shape == y.shape == (1, 88, 2) and mask.tolist() == [[True, True]]
    assert torch.nonzero(x[0, :, 0]).flatten().tolist() == [60 - 21]
    assert y[0, :, 0].sum() == 0 and torch.nonzero(y[0, :, 1]).flatten().tolist() == [72 - 21]
    x, y, mask = next(iter(dm.test_dataloader()))
    assert x.shape == (2, 88, 3) and mask.sum(dim=1).tolist() == [1, 3]  # shortest first
    batches = list(dm.train_dataloader())
    assert sum(b[2].sum().item() for b in batches) == 3 + 1 + 4


def test_missing_file_says_what_where_and_from_whom(tmp_path):
    path = tmp_path / "JSB Chorales.pickle"
    with pytest.raises(FileNotFoundError) as info:
        load_boulanger_rolls(path)
    message = str(info.value)
    assert str(path) in message and "Boulanger-Lewandowski" in message
    assert "JSB Chorales" in message and "Nottingham" in message and ".mat" in message
    with pytest.raises(FileNotFoundError, match="Piano-roll file not found"):
        PianoRollDataModule(str(path)).prepare_data()


def test_wrong_layouts_are_reported(tmp_path):
    path = tmp_path / "bad.pickle"
    path.write_bytes(pickle.dumps({"train": []}))
    with pytest.raises(ValueError, match="valid"):
        load_boulanger_rolls(path)
    scipy_io = pytest.importorskip("scipy.io")
    mat = tmp_path / "bad.mat"
    scipy_io.savemat(mat, {"traindata": np.zeros((3, 88))})
    with pytest.raises(ValueError, match="validdata"):
        load_boulanger_rolls(mat)


def test_mat_without_scipy_names_the_package(tmp_path, monkeypatch):
    path = tmp_path / "x.mat"
    path.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    monkeypatch.setitem(sys.modules, "scipy", None)
    with pytest.raises(ImportError, match="'scipy'"):
        load_boulanger_rolls(path)
