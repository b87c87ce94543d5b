"""The flasher interface: get firmware onto a board and hand back the serial URL to talk to it."""

from __future__ import annotations

import subprocess
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType

from hw_profiler.boards.loader import REPO_ROOT
from hw_profiler.boards.profile import BoardProfile
from hw_profiler.errors import FlashError


class Flasher(ABC):
    """prepare (build) -> flash -> start (returns a pyserial URL) -> stop.

    Used as a context manager, ``with flasher as url:`` runs the first three and always
    runs ``stop`` on the way out.
    """

    def __init__(self, board: BoardProfile, firmware: str | Path | None = None) -> None:
        self.board = board
        self.options = dict(board.flasher.options)
        image = firmware if firmware is not None else board.flasher.firmware
        self.firmware: Path | None = None if image is None else _repo_path(image)

    def prepare(self) -> None:
        """Make sure the firmware image exists; ``options.make`` (a list of make arguments,
        e.g. ``[BOARD=nucleo_f401re, stm32f4]``) builds it first."""
        if self.firmware is not None and self.options.get("make"):
            build_firmware(self.firmware, make_args=[str(a) for a in self.options["make"]])
        if self.firmware is None:
            raise FlashError(f"board {self.board.name}: no firmware image configured")
        if not self.firmware.is_file():
            raise FlashError(f"board {self.board.name}: firmware image not found: {self.firmware}")

    @abstractmethod
    def flash(self) -> None:
        """Write the firmware to the board (a no-op for emulators)."""

    @abstractmethod
    def start(self) -> str:
        """Run the firmware; return the pyserial URL of its command port."""

    def stop(self) -> None:  # noqa: B027 - optional hook, most flashers hold nothing
        """Release whatever ``start`` acquired (default: nothing)."""

    def __enter__(self) -> str:
        self.prepare()
        self.flash()
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def uart_port(self) -> str:
        if not self.board.uart.port:
            raise FlashError(
                f"board {self.board.name}: field 'uart.port' is not set in {self.board.source}"
            )
        return self.board.uart.port


def _repo_path(path: str | Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def run_tool(cmd: list[str], timeout_s: float, what: str) -> subprocess.CompletedProcess[str]:
    """Run an external tool; failures raise FlashError with the command line and stderr."""
    shown = " ".join(cmd)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError as exc:
        raise FlashError(
            f"{what}: executable not found: {cmd[0]!r} (is it installed and on PATH?)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        err = _tail(exc.stderr)
        raise FlashError(f"{what}: timed out after {timeout_s:g} s: {shown}\n{err}") from exc
    if proc.returncode != 0:
        raise FlashError(
            f"{what}: {cmd[0]} exited with status {proc.returncode}: {shown}\n"
            f"{_tail(proc.stderr) or _tail(proc.stdout)}"
        )
    return proc


def _tail(text: str | bytes | None, lines: int = 20) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join(text.strip().splitlines()[-lines:])


def build_firmware(
    target: Path, timeout_s: float = 600.0, make_args: list[str] | None = None
) -> None:
    """Run ``make -C firmware`` (a no-op when up to date) so ``target`` exists and is fresh."""
    firmware_dir = REPO_ROOT / "firmware"
    if not (firmware_dir / "Makefile").is_file():
        if target.is_file():
            return
        raise FlashError(f"cannot build {target}: no {firmware_dir / 'Makefile'}")
    cmd = ["make", "-C", str(firmware_dir), *(make_args or [])]
    run_tool(cmd, timeout_s, "building the firmware")
    if not target.is_file():
        raise FlashError(f"`make -C {firmware_dir}` succeeded but did not produce {target}")
