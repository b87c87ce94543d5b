"""PPG-Dalia loader on tiny subjects written in the official per-subject pickle layout."""

import pickle

import numpy as np
import pytest
import torch

from pit_lightning.data import PPGDaliaDataModule
from pit_lightning.data.ppg_dalia import load_subject

# subject: (labels, windows the signals can hold)
SUBJECTS = {1: (10, 10), 2: (8, 11), 3: (12, 9), 4: (6, 6)}


def _raw(subject, samples):
    """32 Hz channels with recognisable values: sample index, scaled copies, a tone."""
    k = np.arange(samples, dtype=np.float64)
    return np.stack([k, subject * k, -k, np.sin(k / 5) + subject])


def _write_subject(root, subject, scale=1.0):
    labels, windows = SUBJECTS[subject]
    samples = 256 + 64 * (windows - 1) + 17  # a few samples past the last full window
    raw = _raw(subject, samples) * scale
    bvp = np.repeat(raw[0], 2) + np.tile([-0.5, 0.5], samples)  # pairs average to raw[0]
    data = {
        "signal": {
            "wrist": {"BVP": bvp[:, None], "ACC": raw[1:].T.copy(), "EDA": np.zeros((9, 1))},
            "chest": {"ECG": np.zeros((20, 1))},
        },
        "label": 60.0 + 10 * subject + np.arange(labels, dtype=np.float64),
        "activity": np.zeros((5, 1)),
        "subject": f"S{subject}",
    }
    folder = root / f"S{subject}"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"S{subject}.pkl", "wb") as f:
        pickle.dump(data, f, protocol=2)


@pytest.fixture
def root(tmp_path):
    for subject in SUBJECTS:
        _write_subject(tmp_path / "PPG_FieldStudy", subject)
    return tmp_path / "PPG_FieldStudy"


def _module(root, tmp_path, **kwargs):
    kwargs.setdefault("subjects", [1, 2, 3, 4])
    kwargs.setdefault("test_subjects", [1])
    kwargs.setdefault("val_subjects", [2])
    return PPGDaliaDataModule(str(root), cache_dir=str(tmp_path / "cache"), **kwargs)


def test_windows_align_with_labels(root, tmp_path):
    dm = _module(root, tmp_path, test_subjects=[1, 3], val_subjects=[2])
    dm.setup()
    test = dm.datasets["test"]
    assert len(test) == 10 + 9  # S3 has labels for 12 windows but signal for 9
    assert len(dm.datasets["val"]) == 8  # S2 has signal for 11 windows but 8 labels
    for index, (subject, window) in [(0, (1, 0)), (9, (1, 9)), (10, (3, 0)), (18, (3, 8))]:
        x, y = test[index]
        assert x.shape == (4, 256)
        raw = x * dm.std + dm.mean
        start = 64 * window
        expected = _raw(subject, start + 256)[:, start:]
        assert torch.allclose(raw.double(), torch.from_numpy(expected), atol=1e-3)
        assert y.item() == 60 + 10 * subject + window


def test_normalisation_uses_training_subjects_only(root, tmp_path):
    dm = _module(root, tmp_path)
    dm.setup()
    used = [_raw(s, 256 + 64 * (min(SUBJECTS[s]) - 1)) for s in (3, 4)]
    joined = np.concatenate(used, axis=1)
    assert torch.allclose(dm.mean.flatten(), torch.tensor(joined.mean(axis=1)).float())
    assert torch.allclose(dm.std.flatten(), torch.tensor(joined.std(axis=1, ddof=1)).float())
    train = torch.stack([dm.datasets["train"][i][0] for i in range(len(dm.datasets["train"]))])
    assert train.mean().abs() < 0.5

    _write_subject(root, 1, scale=1000.0)  # a very different test subject
    _write_subject(root, 2, scale=-50.0)  # and validation subject
    changed = _module(root, tmp_path)
    changed.setup()
    assert torch.equal(changed.mean, dm.mean) and torch.equal(changed.std, dm.std)


def test_subject_splits(root, tmp_path):
    dm = _module(root, tmp_path, test_subjects=[4], val_subjects=[1, 3])
    assert dm.split_subjects == {"train": [2], "val": [1, 3], "test": [4]}
    default = PPGDaliaDataModule(str(root))
    assert default.split_subjects["test"] == [1, 2, 3]
    assert default.split_subjects["val"] == [4, 5]
    assert default.split_subjects["train"] == list(range(6, 16))
    with pytest.raises(ValueError, match="both test and val"):
        _module(root, tmp_path, test_subjects=[1], val_subjects=[1])
    with pytest.raises(ValueError, match="not among"):
        _module(root, tmp_path, test_subjects=[7])
    with pytest.raises(ValueError, match="training"):
        _module(root, tmp_path, test_subjects=[1, 2], val_subjects=[3, 4])


def test_batches_and_task(root, tmp_path):
    dm = _module(root, tmp_path, batch_size=5)
    assert dm.input_channels == 4 and dm.task.metric_name == "mae"
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (5, 4, 256) and y.shape == (5,)
    assert x.dtype == y.dtype == torch.float32
    assert len(dm.datasets["train"]) == 9 + 6


def test_extracted_signals_are_cached(root, tmp_path):
    cache = tmp_path / "cache"
    first = load_subject(root, 2, cache)
    assert len(list(cache.glob("ppg_dalia-S2-*.pt"))) == 1
    again = load_subject(root, 2, cache)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    _write_subject(root, 2, scale=2.0)  # a changed file invalidates its entry
    assert not torch.equal(load_subject(root, 2, cache)[0], first[0])


def test_missing_directory_says_what_to_download(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        _module(missing, tmp_path).setup()
    message = str(info.value)
    assert "PPG-DaLiA directory not found" in message and str(missing) in message
    assert "UCI Machine Learning Repository" in message and "S1/S1.pkl" in message


def test_missing_subject_is_named(root, tmp_path):
    dm = _module(root, tmp_path, subjects=[1, 2, 3, 4, 5])
    with pytest.raises(FileNotFoundError) as info:
        dm.prepare_data()
    message = str(info.value)
    assert "subject S5 not found" in message and str(root / "S5" / "S5.pkl") in message
    assert "UCI Machine Learning Repository" in message


def test_wrong_layout_is_reported(root, tmp_path):
    with open(root / "S4" / "S4.pkl", "wb") as f:
        pickle.dump({"signal": {}}, f)
    with pytest.raises(ValueError, match="PPG-DaLiA subject layout"):
        load_subject(root, 4, tmp_path / "cache")
