"""Board profiles (profiles/*.yaml, shipped with the package) and their loader."""

from hw_profiler.boards.loader import DEFAULT_BOARD, available_boards, load_board
from hw_profiler.boards.profile import (
    BoardProfile,
    FlasherSettings,
    MonitorSettings,
    PowerModel,
    UartSettings,
)

__all__ = [
    "DEFAULT_BOARD",
    "BoardProfile",
    "FlasherSettings",
    "MonitorSettings",
    "PowerModel",
    "UartSettings",
    "available_boards",
    "load_board",
]
