"""PIT on a board: the one place where pit_lightning meets hw_profiler.

The arrow points one way: this package imports hw_profiler, hw_profiler knows nothing of
PIT. It turns search spaces into the geometries a board measures (:mod:`.space`), names
seed networks (:mod:`.named_seeds`), charges a measured table as a cost model
(:mod:`.cost`), measures on a board (:mod:`.service`) and brings that into training
(:mod:`.callback`).
"""

from .callback import HARDWARE_FILE, HardwareInTheLoop
from .cost import MissingEntriesError, TableCost
from .named_seeds import SEEDS, build_seed
from .service import BoardService, calibration_inputs
from .space import (
    LayerReach,
    conv_geometry,
    enumerate_geometries,
    geometry_of,
    layer_geometries,
    spaces_from_seed,
)

__all__ = [
    "HARDWARE_FILE",
    "SEEDS",
    "BoardService",
    "HardwareInTheLoop",
    "LayerReach",
    "MissingEntriesError",
    "TableCost",
    "build_seed",
    "calibration_inputs",
    "conv_geometry",
    "enumerate_geometries",
    "geometry_of",
    "layer_geometries",
    "spaces_from_seed",
]
