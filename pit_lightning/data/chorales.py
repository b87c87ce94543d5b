"""Bach chorales from music21's bundled corpus, as a JSB-Chorales-like benchmark.

JSB Chorales itself cannot be fetched at run time here, but music21 ships the Bach
chorales. The Riemenschneider catalogue lists 371, which map to 350 distinct score files
(some harmonisations appear under two or three numbers), and two pairs of those files hold
identical music; duplicates are dropped so that no piece lands in two splits. Each
chorale's soprano, alto, tenor and bass are sampled once per quarter note into an 88-key
roll: a note sounds at step t when its onset <= t < its end, so held and tied notes keep
sounding, rests sound nothing, grace notes (no duration) are skipped and notes outside
MIDI 21..108 are dropped. Scores with instrumental parts keep the four parts whose names
start with Soprano/Alto/Tenor/Bass.

Full corpus: 348 distinct pieces of 24..193 steps (median 48), about 3.8 sounding notes per
step. Default split, a seeded permutation of the pieces with the JSB ratios (229/76/77 of
382, i.e. 60/20/20 %): 208 train, 70 validation, 70 test. Parsing takes about 25 s, so rolls are
cached (see :mod:`pit_lightning.data.cache`); later loads take well under a second.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from pit_lightning.data.cache import cache_dir, load_entry, save_entry, settings_key
from pit_lightning.data.pianoroll import (
    LOWEST_NOTE,
    SPLITS,
    RollDataModule,
    pack_rolls,
    roll_from_steps,
    unpack_rolls,
)
from pit_lightning.tasks import NUM_KEYS

log = logging.getLogger(__name__)

PARSER_VERSION = 1  # bump whenever the roll encoding changes, to invalidate caches
VOICES = ("soprano", "alto", "tenor", "bass")
STEPS_PER_QUARTER = 1
_EPS = 1e-6


def _music21():
    try:
        import music21
    except ImportError as err:
        raise ImportError(
            "The Bach chorales need the 'music21' package (pip install music21, or the "
            "project's 'data' extra)."
        ) from err
    return music21


def chorale_files() -> list[str]:
    """Corpus paths of the distinct chorales, in Riemenschneider order."""
    music21 = _music21()
    paths = music21.corpus.chorales.Iterator(returnType="filename")
    return list(dict.fromkeys(str(p) for p in paths))


def select_voices(score) -> list:
    """The four sung parts: all parts of a four-part score, else those named S/A/T/B."""
    parts = list(score.parts)
    if len(parts) == len(VOICES):
        return parts
    chosen = []
    for voice in VOICES:
        named = [p for p in parts if str(p.partName or "").strip().lower().startswith(voice)]
        if not named:
            raise ValueError(f"no {voice} part among {[p.partName for p in parts]}")
        chosen.append(named[0])
    return chosen


def chorale_roll(score) -> Tensor:
    """Roll (T, 88) of a parsed score, T = its length in quarter notes rounded up."""
    steps = math.ceil(float(score.highestTime) * STEPS_PER_QUARTER - _EPS)
    sounding: list[set[int]] = [set() for _ in range(steps)]
    for part in select_voices(score):
        for element in part.flatten().notes:
            start = float(element.offset) * STEPS_PER_QUARTER
            end = start + float(element.quarterLength) * STEPS_PER_QUARTER
            first, stop = math.ceil(start - _EPS), min(math.ceil(end - _EPS), steps)
            for t in range(first, stop):
                sounding[t].update(p.midi for p in element.pitches)
    return roll_from_steps([sorted(s) for s in sounding])


def drop_duplicates(
    files: Sequence[str], rolls: Sequence[Tensor]
) -> tuple[list[str], list[Tensor]]:
    """Keep the first of pieces whose rolls are identical."""
    seen: set[bytes] = set()
    kept_files, kept_rolls = [], []
    for name, roll in zip(files, rolls, strict=True):
        fingerprint = str(tuple(roll.shape)).encode() + roll.numpy().tobytes()
        if fingerprint not in seen:
            seen.add(fingerprint)
            kept_files.append(name)
            kept_rolls.append(roll)
    return kept_files, kept_rolls


def _cache_path(root: Path, files: Sequence[str]) -> Path:
    music21 = _music21()
    key = settings_key(
        {
            "parser": PARSER_VERSION,
            "music21": music21.__version__,
            "steps_per_quarter": STEPS_PER_QUARTER,
            "lowest_note": LOWEST_NOTE,
            "keys": NUM_KEYS,
            "voices": VOICES,
            "files": list(files),
        }
    )
    return root / f"chorales-{len(files)}-{key}.pt"


def _from_cache(path: Path, files: Sequence[str]) -> list[Tensor] | None:
    payload = load_entry(path, required=("files", "rolls", "lengths"))
    if payload is None:
        return None
    if list(payload["files"][: len(files)]) != list(files):
        return None
    return unpack_rolls(payload["rolls"], payload["lengths"])[: len(files)]


def load_chorale_rolls(
    limit: int | None = None, cache: str | os.PathLike | None = None
) -> tuple[list[str], list[Tensor]]:
    """Corpus paths and (T, 88) rolls of the distinct pieces among the first ``limit`` files.

    A limited load parses only its files, but reuses a full-corpus cache when one exists.
    """
    files = chorale_files()
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be positive, got {limit}")
        files_wanted = files[:limit]
    else:
        files_wanted = files
    root = cache_dir(cache)
    path = _cache_path(root, files_wanted)
    candidates = [path]
    if len(files_wanted) < len(files):
        candidates.append(_cache_path(root, files))
    for candidate in candidates:
        rolls = _from_cache(candidate, files_wanted)
        if rolls is not None:
            return drop_duplicates(files_wanted, rolls)

    music21 = _music21()
    log.info("Parsing %d Bach chorales with music21 (cached afterwards)", len(files_wanted))
    rolls = [chorale_roll(music21.corpus.parse(name)) for name in files_wanted]
    flat, lengths = pack_rolls(rolls)
    save_entry(path, {"files": files_wanted, "rolls": flat, "lengths": lengths})
    return drop_duplicates(files_wanted, rolls)


def split_indices(
    count: int, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[int]]:
    """A deterministic, disjoint train/val/test partition of ``range(count)``."""
    n_val, n_test = round(count * val_fraction), round(count * test_fraction)
    if count - n_val - n_test < 1:
        raise ValueError(f"{count} pieces leave none for training")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()
    parts = {
        "val": order[:n_val],
        "test": order[n_val : n_val + n_test],
        "train": order[n_val + n_test :],
    }
    return {name: sorted(parts[name]) for name in SPLITS}


class ChoralesDataModule(RollDataModule):
    """Next-step prediction on the music21 Bach chorales; batches ``(x, y, mask)``.

    Args:
        batch_size: pieces per batch.
        limit: use only the first ``limit`` chorale files (quick runs); None for all.
        cache_dir: where parsed rolls are kept; default ``$PIT_LIGHTNING_CACHE`` or
            ``~/.cache/pit_lightning``.
        num_workers: dataloader worker processes.
        seed: seed of the split permutation (not of training).
        val_fraction: share of pieces for validation.
        test_fraction: share of pieces for test.
    """

    def __init__(
        self,
        batch_size: int = 16,
        limit: int | None = None,
        cache_dir: str | None = None,
        num_workers: int = 0,
        seed: int = 0,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.save_hyperparameters()
        self.limit = limit
        self.cache_dir = cache_dir
        self.seed = seed
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_files: dict[str, list[str]] = {}

    def prepare_data(self) -> None:
        load_chorale_rolls(self.limit, self.cache_dir)

    def load_splits(self) -> dict[str, list[Tensor]]:
        files, rolls = load_chorale_rolls(self.limit, self.cache_dir)
        index = split_indices(len(files), self.val_fraction, self.test_fraction, self.seed)
        self.split_files = {name: [files[i] for i in ids] for name, ids in index.items()}
        return {name: [rolls[i] for i in ids] for name, ids in index.items()}
