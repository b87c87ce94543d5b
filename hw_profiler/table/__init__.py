"""The latency lookup table: search-space enumeration, storage and the profiling loop."""

from hw_profiler.table.profiler import ProfileSummary, TableProfiler
from hw_profiler.table.space import (
    SEARCH_OPTIONS,
    ChannelGrid,
    LayerGeometry,
    enumerate_geometries,
    layer_geometries,
    spaces_from_seed,
)
from hw_profiler.table.store import COLUMNS, KEY, LatencyTable, TableMeta

__all__ = [
    "COLUMNS",
    "KEY",
    "SEARCH_OPTIONS",
    "ChannelGrid",
    "LatencyTable",
    "LayerGeometry",
    "ProfileSummary",
    "TableMeta",
    "TableProfiler",
    "enumerate_geometries",
    "layer_geometries",
    "spaces_from_seed",
]
