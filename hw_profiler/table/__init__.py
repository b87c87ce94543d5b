"""The latency lookup table: storage and the profiling loop, keyed by LayerGeometry."""

from hw_profiler.geometry import ChannelGrid, LayerGeometry
from hw_profiler.table.profiler import ProfileSummary, TableProfiler, run_parallel
from hw_profiler.table.store import COLUMNS, KEY, LatencyTable, TableMeta

__all__ = [
    "COLUMNS",
    "KEY",
    "ChannelGrid",
    "LatencyTable",
    "LayerGeometry",
    "ProfileSummary",
    "TableMeta",
    "TableProfiler",
    "run_parallel",
]
