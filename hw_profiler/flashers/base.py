"""The flasher interface: get firmware onto a board and hand back the serial URL to talk to it."""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType

from hw_profiler.boards.profile import BoardProfile
from hw_profiler.errors import FlashError
from hw_profiler.flashers.elf import with_model
from hw_profiler.flashers.firmware import build_dir, build_firmware, image_path


class Flasher(ABC):
    """prepare (build) -> flash -> start (returns a pyserial URL) -> stop.

    Used as a context manager, ``with flasher as url:`` runs the first three and always
    runs ``stop`` on the way out.
    """

    def __init__(self, board: BoardProfile, firmware: str | Path | None = None) -> None:
        self.board = board
        self.options = dict(board.flasher.options)
        # A given image is a path from here; a profile's is in the firmware build folder.
        self.firmware: Path | None = (
            Path(firmware).expanduser().absolute() if firmware is not None
            else None if board.flasher.firmware is None
            else image_path(board.flasher.firmware)
        )
        self.base_firmware = self.firmware  # without a model built in

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

    def flash_model(self, image: bytes, address: int) -> str:
        """Flash the firmware with the model ``image`` built into its flash slot at
        ``address``, restart the board and return its URL. On the emulator, flashing is
        starting QEMU on the combined image."""
        if self.base_firmware is None:
            raise FlashError(f"board {self.board.name}: no firmware image configured")
        out = build_dir() / "models" / f"{self.base_firmware.stem}-{zlib.crc32(image):08x}.elf"
        combined = with_model(self.base_firmware, image, address, out)
        self.stop()
        self.firmware = combined
        self.flash()
        return self.start()

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
