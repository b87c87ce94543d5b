"""On-disk cache for parsed datasets.

Parsing the music21 chorales takes tens of seconds; every later run loads the result in a
fraction of a second. Entries are keyed by a hash of everything that shapes the parse, so a
change of settings or of the parser's version never serves stale data, and a damaged file
is parsed again instead of failing the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

CACHE_ENV = "PIT_LIGHTNING_CACHE"
DEFAULT_CACHE_DIR = Path("~/.cache/pit_lightning")


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``path`` if given, else ``$PIT_LIGHTNING_CACHE``, else the default."""
    if path is None:
        path = os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR
    return Path(path).expanduser()


def settings_key(settings: dict[str, Any]) -> str:
    """A short stable hash of JSON-serialisable settings."""
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def save_entry(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` atomically, so a killed run never leaves a half-written entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_entry(path: Path, required: tuple[str, ...]) -> dict[str, Any] | None:
    """The cached payload, or None when absent; a damaged entry is removed with a warning."""
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or any(k not in payload for k in required):
            raise ValueError("missing fields")
    except Exception as err:  # any failure to read means the entry must be rebuilt
        warnings.warn(f"Ignoring damaged cache file {path} ({err}); rebuilding it.", stacklevel=3)
        path.unlink(missing_ok=True)
        return None
    return payload
