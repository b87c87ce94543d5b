"""Exception classes: every failure a user can act on gets its own type and a message that
names the thing to fix (port, file, field, command, versions)."""

from __future__ import annotations


class HwProfilerError(Exception):
    """Base class of every error raised by hw_profiler."""


class BoardConfigError(HwProfilerError):
    """A board profile is unknown, unreadable or invalid."""


class PortError(HwProfilerError):
    """A serial port or URL cannot be opened."""


class BoardTimeoutError(HwProfilerError):
    """The board did not answer a command in time (after all retries)."""


class ProtocolError(HwProfilerError):
    """The board answered with something the protocol does not allow."""


class BoardCommandError(HwProfilerError):
    """The board answered a command with an error reply."""

    def __init__(
        self, message: str, code: int | None = None, name: str = "ERROR", detail: int = 0
    ) -> None:
        super().__init__(message)
        self.code = code
        self.name = name  # the protocol's error name, e.g. NO_MEMORY
        self.detail = detail


class VersionMismatchError(HwProfilerError):
    """The firmware speaks another protocol version than this host library."""


class FlashError(HwProfilerError):
    """Building, flashing or starting a board failed."""


class TableError(HwProfilerError):
    """A latency table file is corrupted or belongs to another board/firmware."""


class PowerMonitorError(HwProfilerError):
    """A power monitor is missing, unreachable or answered with an error."""


class DeployError(HwProfilerError):
    """A network cannot be converted or does not fit the board."""
