"""Where the firmware's C sources are and where they build.

The sources ship inside the package (``hw_profiler/firmware``), so an installed wheel
can build them; the build goes to a user cache folder, never into the package:
``$HW_PROFILER_BUILD`` when set, else ``$XDG_CACHE_HOME/hw-profiler`` (default
``~/.cache/hw-profiler``) in a folder named after the sources' location, so two
installations never share a build.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from hw_profiler.errors import FlashError
from hw_profiler.flashers.procs import run_tool

SOURCES = Path(__file__).resolve().parents[1] / "firmware"


def build_dir() -> Path:
    """The folder ``make -C <SOURCES> BUILD=...`` writes to."""
    given = os.environ.get("HW_PROFILER_BUILD")
    if given:
        return Path(given).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = hashlib.sha1(str(SOURCES).encode()).hexdigest()[:12]
    return cache / "hw-profiler" / f"firmware-{tag}"


def image_path(path: str | os.PathLike[str]) -> Path:
    """A board profile's image: absolute as given, relative to :func:`build_dir` else."""
    image = Path(path).expanduser()
    return image if image.is_absolute() else build_dir() / image


def build_firmware(
    target: Path, timeout_s: float = 600.0, make_args: list[str] | None = None
) -> None:
    """Run ``make`` on the sources (a no-op when up to date) so ``target`` exists and is fresh.

    An image outside the build folder is a prebuilt one: it is used as it is.
    """
    out = build_dir()
    if not target.resolve().is_relative_to(out.resolve()):
        if target.is_file():
            return
        raise FlashError(f"firmware image not found: {target} (and it is not one we build)")
    if not (SOURCES / "Makefile").is_file():
        raise FlashError(f"cannot build {target}: no {SOURCES / 'Makefile'}")
    cmd = ["make", "-C", str(SOURCES), f"BUILD={out}", *(make_args or [])]
    run_tool(cmd, timeout_s, "building the firmware")
    if not target.is_file():
        raise FlashError(f"`{' '.join(cmd)}` succeeded but did not produce {target}")
