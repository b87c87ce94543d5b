"""Load and validate board profiles from YAML; boards are picked by name or by path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from hw_profiler.boards.profile import (
    BoardProfile,
    FlasherSettings,
    MonitorSettings,
    PowerModel,
    UartSettings,
)
from hw_profiler.errors import BoardConfigError

PROFILES = Path(__file__).resolve().parent / "profiles"
DEFAULT_BOARD = "qemu_stm32f4"
FLASHER_KINDS = ("qemu", "host", "an3155", "pyocd", "openocd", "gap8")
MONITOR_KINDS = ("lpm01a", "ppk2")


def board_dirs() -> list[Path]:
    """Where board names are looked up: $HW_PROFILER_BOARDS (os.pathsep list), then the
    profiles shipped with the package (hw_profiler/boards/profiles)."""
    extra = os.environ.get("HW_PROFILER_BOARDS", "")
    dirs = [Path(p) for p in extra.split(os.pathsep) if p]
    dirs.append(PROFILES)
    return dirs


def available_boards() -> list[str]:
    names: set[str] = set()
    for d in board_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def resolve_board_path(board: str | os.PathLike[str]) -> Path:
    text = str(board)
    as_path = Path(text)
    if text.endswith((".yaml", ".yml")) or os.sep in text or as_path.is_file():
        if not as_path.is_file():
            raise BoardConfigError(f"board file not found: {as_path}")
        return as_path
    for d in board_dirs():
        candidate = d / f"{text}.yaml"
        if candidate.is_file():
            return candidate
    raise BoardConfigError(
        f"unknown board {text!r}; known boards: {', '.join(available_boards()) or 'none'} "
        f"(searched {', '.join(str(d) for d in board_dirs())})"
    )


def load_board(board: str | os.PathLike[str] | BoardProfile = DEFAULT_BOARD) -> BoardProfile:
    """Return the profile for a board name (``<name>.yaml`` in :func:`board_dirs`) or a YAML
    path."""
    if isinstance(board, BoardProfile):
        return board
    path = resolve_board_path(board)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise BoardConfigError(f"{path}: cannot read board profile: {exc}") from exc
    return parse_board(data, path)


class _Fields:
    """Typed access to one YAML mapping that reports errors as 'file: field: problem'."""

    def __init__(self, data: Any, path: Path, prefix: str) -> None:
        self.path, self.prefix = path, prefix
        if not isinstance(data, dict):
            raise self.error("", f"expected a mapping, got {type(data).__name__}")
        self.data = data

    def error(self, key: str, problem: str) -> BoardConfigError:
        name = f"{self.prefix}{key}" if key else self.prefix.rstrip(".") or "<top level>"
        return BoardConfigError(f"{self.path}: field {name!r}: {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., positive=False,
            nonnegative=False):
        if key not in self.data or self.data[key] is None:
            if default is ...:
                raise self.error(key, "missing (required)")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.error(key, f"expected {names}, got {value!r}")
        if positive and value <= 0:
            raise self.error(key, f"must be > 0, got {value!r}")
        if nonnegative and value < 0:
            raise self.error(key, f"must be >= 0, got {value!r}")
        return value

    def sub(self, key: str, required: bool = True) -> _Fields | None:
        if key not in self.data or self.data[key] is None:
            if required:
                raise self.error(key, "missing (required)")
            return None
        return _Fields(self.data[key], self.path, f"{self.prefix}{key}.")

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.get(key, str)
        if value not in choices:
            raise self.error(key, f"{value!r} is not one of {', '.join(choices)}")
        return value


def parse_board(data: Any, path: Path) -> BoardProfile:
    top = _Fields(data, path, "")
    uart = top.sub("uart")
    flasher = top.sub("flasher")
    power = top.sub("power")
    assert uart is not None and flasher is not None and power is not None
    ua_per_mhz = power.get("ua_per_mhz", float, None, positive=True)
    fixed_ma = power.get("fixed_ma", float, None, positive=True)
    if (ua_per_mhz is None) == (fixed_ma is None):
        raise power.error("", "give exactly one of 'ua_per_mhz' or 'fixed_ma'")
    monitor = top.sub("monitor", required=False)
    return BoardProfile(
        name=top.get("name", str, path.stem),
        description=top.get("description", str, ""),
        mcu=top.get("mcu", str),
        core=top.get("core", str),
        clock_hz=top.get("clock_hz", int, positive=True),
        timer=top.get("timer", str),
        ram_bytes=top.get("ram_bytes", int, positive=True),
        flash_bytes=top.get("flash_bytes", int, nonnegative=True),
        uart=UartSettings(
            port=uart.get("port", str, None),
            baud=uart.get("baud", int, 115200, positive=True),
            timeout_s=uart.get("timeout_s", float, 5.0, positive=True),
            retries=uart.get("retries", int, 5, nonnegative=True),
            byte_timeout_s=uart.get("byte_timeout_s", float, 0.5, positive=True),
            chunk_bytes=uart.get("chunk_bytes", int, None, positive=True),
        ),
        flasher=FlasherSettings(
            kind=flasher.choice("kind", FLASHER_KINDS),
            firmware=flasher.get("firmware", str, None),
            options=flasher.get("options", dict, {}),
        ),
        power=PowerModel(
            supply_v=power.get("supply_v", float, positive=True),
            ua_per_mhz=ua_per_mhz,
            fixed_ma=fixed_ma,
        ),
        monitor=None
        if monitor is None
        else MonitorSettings(
            kind=monitor.choice("kind", MONITOR_KINDS),
            port=monitor.get("port", str, None),
            supply_v=monitor.get("supply_v", float, 3.3, positive=True),
            options=monitor.get("options", dict, {}),
        ),
        source=path,
    )
