"""Bach chorales from music21: roll encoding, deterministic splits and the parse cache."""

import time
import warnings

import pytest
import torch

pytest.importorskip("music21")

from music21 import chord, note, stream, tie

from pit_lightning.data import ChoralesDataModule, cache_dir, load_chorale_rolls
from pit_lightning.data import chorales as chorales_mod

LIMIT = 8


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("cache")
    load_chorale_rolls(LIMIT, path)
    return path


def _forbid_parsing(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("parsed although a cache entry exists")

    monkeypatch.setattr(chorales_mod._music21().corpus, "parse", fail)


def _part(*elements, name=None):
    part = stream.Part()
    part.partName = name
    for element in elements:
        part.append(element)
    return part


def test_roll_encoding_of_held_tied_rest_chord_grace_and_out_of_range():
    held = note.Note(60, quarterLength=2)
    tied_start, tied_end = note.Note(62, quarterLength=1.5), note.Note(62, quarterLength=0.5)
    tied_start.tie, tied_end.tie = tie.Tie("start"), tie.Tie("stop")
    grace = note.Note(70, quarterLength=1).getGrace()
    soprano = _part(held, tied_start, tied_end, note.Rest(quarterLength=1))
    alto = _part(grace, note.Note(20, quarterLength=1), chord.Chord([64, 67], quarterLength=3))
    tenor = _part(note.Rest(quarterLength=4), note.Note(108, quarterLength=1))
    bass = _part(note.Note(21, quarterLength=0.5), note.Note(40, quarterLength=0.5))
    score = stream.Score([soprano, alto, tenor, bass])
    roll = chorales_mod.chorale_roll(score)
    sounding = [sorted(int(k) + 21 for k in torch.nonzero(step).flatten()) for step in roll]
    assert sounding == [[21, 60], [60, 64, 67], [62, 64, 67], [62, 64, 67], [108]]


def test_extra_instrument_parts_are_ignored():
    names = ["Horn", "Soprano 1", "Soprano 2", "Alto", "Tenor", "Bass", "Continuo"]
    parts = [_part(note.Note(40 + i, quarterLength=1), name=n) for i, n in enumerate(names)]
    roll = chorales_mod.chorale_roll(stream.Score(parts))
    assert sorted(int(k) + 21 for k in torch.nonzero(roll[0]).flatten()) == [41, 43, 44, 45]


def test_rolls_look_like_four_part_chorales(shared_cache):
    files, rolls = load_chorale_rolls(LIMIT, shared_cache)
    assert len(files) == len(rolls) == LIMIT
    assert files[0] == "bach/bwv269"
    for roll in rolls:
        assert roll.dtype == torch.bool and roll.shape[1] == 88
        assert 24 <= roll.shape[0] <= 193
    notes_per_step = sum(r.sum().item() for r in rolls) / sum(r.shape[0] for r in rolls)
    assert 3.0 < notes_per_step <= 4.0


def test_split_is_deterministic_disjoint_and_complete(shared_cache):
    first = ChoralesDataModule(limit=LIMIT, cache_dir=str(shared_cache), batch_size=3)
    second = ChoralesDataModule(limit=LIMIT, cache_dir=str(shared_cache), batch_size=3)
    first.setup("fit")
    second.setup("fit")
    assert first.split_files == second.split_files
    names = [set(first.split_files[s]) for s in ("train", "val", "test")]
    assert all(names) and not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert set.union(*names) == set(load_chorale_rolls(LIMIT, shared_cache)[0])
    other = ChoralesDataModule(limit=LIMIT, cache_dir=str(shared_cache), seed=1)
    other.setup()
    assert other.split_files != first.split_files


def test_batches_are_padded_next_step_pairs(shared_cache):
    dm = ChoralesDataModule(limit=LIMIT, cache_dir=str(shared_cache), batch_size=4)
    assert dm.input_channels == 88 and dm.task.metric_name == "nll"
    dm.setup()
    x, y, mask = next(iter(dm.val_dataloader()))
    rolls = dm.datasets["val"].rolls[:4]
    assert x.shape == y.shape == (len(rolls), 88, max(r.shape[0] for r in rolls) - 1)
    assert mask.shape == (len(rolls), x.shape[2]) and mask.dtype == torch.bool
    for i, roll in enumerate(rolls):
        n = roll.shape[0] - 1
        assert mask[i].sum() == n
        assert torch.equal(x[i, :, :n], roll[:-1].t().float())
        assert torch.equal(y[i, :, :n], roll[1:].t().float())
        assert x[i, :, n:].abs().sum() == 0
    assert set(torch.unique(x).tolist()) <= {0.0, 1.0}


def test_cache_hit_is_fast_and_identical(shared_cache, monkeypatch):
    _, rolls = load_chorale_rolls(LIMIT, shared_cache)
    _forbid_parsing(monkeypatch)
    start = time.perf_counter()
    _, again = load_chorale_rolls(LIMIT, shared_cache)
    assert time.perf_counter() - start < 1.0
    assert all(torch.equal(a, b) for a, b in zip(rolls, again, strict=True))


def test_limited_load_reuses_a_full_cache(tmp_path, monkeypatch):
    files = chorales_mod.chorale_files()[:4]
    monkeypatch.setattr(chorales_mod, "chorale_files", lambda: list(files))
    _, full = load_chorale_rolls(None, tmp_path)
    _forbid_parsing(monkeypatch)
    names, part = load_chorale_rolls(2, tmp_path)
    assert names == files[:2]
    assert all(torch.equal(a, b) for a, b in zip(part, full[:2], strict=True))


def test_corrupted_cache_is_rebuilt_with_a_warning(tmp_path):
    _, rolls = load_chorale_rolls(2, tmp_path)
    (entry,) = tmp_path.glob("chorales-*.pt")
    entry.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="damaged cache"):
        _, rebuilt = load_chorale_rolls(2, tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(rolls, rebuilt, strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_chorale_rolls(2, tmp_path)


def test_cache_dir_follows_argument_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PIT_LIGHTNING_CACHE", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("PIT_LIGHTNING_CACHE")
    assert str(cache_dir()).endswith(".cache/pit_lightning")


def test_duplicate_pieces_are_dropped():
    a, b = torch.zeros(300, 88, dtype=torch.bool), torch.ones(300, 88, dtype=torch.bool)
    c = torch.zeros(150, 88, dtype=torch.bool)  # same bytes as a's first half, other shape
    files, rolls = chorales_mod.drop_duplicates(["a", "b", "a2", "c"], [a, b, a.clone(), c])
    assert files == ["a", "b", "c"] and len(rolls) == 3
