"""BoardService: every board measurement a PIT run makes, behind public methods.

It owns the board's lifetime (opened on first use, closed between uses: an idle
emulated board still spins a host core), the latency table and the table costs. The
HardwareInTheLoop callback and the sweep both call it; neither reaches into the other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn

from hw_profiler import api
from hw_profiler.board import Board, open_board
from hw_profiler.deploy import network_geometries
from hw_profiler.geometry import ChannelGrid, LayerGeometry
from hw_profiler.table import LatencyTable, TableProfiler

from ..cost.geometry import SEARCH_OPTIONS, LayerSpace, ResidualAdd
from .cost import TableCost
from .space import enumerate_geometries

COLUMNS = {"latency": "latency_s", "energy": "energy_j"}


class BoardService:
    """Measure on one board into one table.

    Args:
        board: a board profile name or path.
        table: the latency table file (resumed when it exists).
        channel_step: channel grid of the table.
        url: talk to an already running board at this pyserial URL (no flashing).
        repeats: timed runs per table entry (median stored).
    """

    def __init__(self, board: str = "qemu_stm32f4", table: str = "latency_table.csv",
                 channel_step: int = 8, url: str | None = None, repeats: int = 3) -> None:
        self.board = board
        self.table_path = table
        self.channel_step = channel_step
        self.url = url
        self.repeats = repeats
        self.costs: dict[str, TableCost] = {}
        self._stack: contextlib.ExitStack | None = None
        self._board: Board | None = None
        self._table: LatencyTable | None = None

    # -- the board -------------------------------------------------------------------

    def open(self) -> Board:
        """The open board, started on first use."""
        if self._board is None:
            self._stack = contextlib.ExitStack()
            self._board = self._stack.enter_context(open_board(self.board, url=self.url))
        return self._board

    def close(self) -> None:
        """Stop the board (and its emulator); the next use starts it again."""
        if self._stack is not None:
            self._stack.close()
        self._stack, self._board = None, None

    # -- the table -------------------------------------------------------------------

    def profile(self, spaces: Sequence[LayerSpace], search: Iterable[str] = SEARCH_OPTIONS,
                adds: Sequence[ResidualAdd] = ()) -> None:
        """Measure every geometry the search can reach that the table lacks (with the
        residual adds ``adds`` whose width it sets)."""
        geometries = enumerate_geometries(spaces, search, ChannelGrid(self.channel_step),
                                          adds=adds)
        self._retire_stale_table()
        api.profile(geometries, self.open(), self.table_path, repeats=self.repeats)

    def _retire_stale_table(self) -> None:
        """Set aside a table this board can no longer extend and start afresh: to a run
        the table is a cache of measurements, and old entries would not describe this
        board's firmware."""
        if not Path(self.table_path).exists():
            return
        meta = self.open().table_meta()
        kept = LatencyTable.set_aside_if_stale(self.table_path, meta)
        if kept is not None:
            rank_zero_info(f"{self.table_path} was measured by another board, firmware or "
                           f"clock than {meta.board} firmware {meta.firmware_version}: kept "
                           f"it as {kept.name} and profiling afresh")

    def measure_missing(self, geometries: list[LayerGeometry]) -> None:
        """Measure ``geometries`` into the loaded table (what a TableCost asks for)."""
        assert self._table is not None
        board = self.open()
        TableProfiler(board.session, self._table, board.meter, repeats=self.repeats,
                      progress=True).run(geometries)

    def load_costs(self, spaces: Sequence[LayerSpace] = (),
                   search: Iterable[str] = SEARCH_OPTIONS, measure: bool = True
                   ) -> dict[str, TableCost]:
        """Latency and energy costs from the table as stored now.

        Without ``spaces`` only exact lookups work (a fixed architecture); with
        ``measure`` a missing entry is measured on the board, else it raises.
        """
        path = Path(self.table_path)
        if measure:
            self._retire_stale_table()
        if measure and not path.exists():
            # Nothing measured yet: start the table with this board's metadata.
            self._table = LatencyTable.open(path, self.open().table_meta())
        else:
            self._table = LatencyTable.load(path)
        on_demand = self.measure_missing if measure else None
        self.costs = {name: TableCost(self._table, spaces, search, self.channel_step, column,
                                      measure=on_demand)
                      for name, column in COLUMNS.items()}
        return self.costs

    # -- networks --------------------------------------------------------------------

    def predict(self, network: nn.Module, input_shape: Sequence[int]) -> dict[str, float]:
        """End-to-end latency and energy of ``network`` from the table.

        Every board layer counts (FBNet-style sum over operators keyed by their full
        shape), not only the searchable convs; missing entries are measured.
        """
        per_layer = self._layer_costs(network, input_shape)
        return {name: sum(values.values()) for name, values in per_layer.items()}

    def _layer_costs(self, network: nn.Module, input_shape: Sequence[int]
                     ) -> dict[str, dict[str, float]]:
        """``{cost name: {board layer: table entry}}``, in execution order."""
        if not self.costs:
            self.load_costs()
        example = torch.zeros(1, *input_shape)
        keyed = network_geometries(network.cpu().eval(), example)
        geometries = [g for _, g in keyed]
        return {name: dict(zip([n for n, _ in keyed], cost.entries(geometries), strict=True))
                for name, cost in self.costs.items()}

    def measure(self, network: nn.Module, calib: Tensor) -> dict[str, Any]:
        """Deploy ``network`` in int8 and set what the board measured beside the prediction,
        end to end and per board layer (``layers``).

        The board is stopped afterwards: measurements are far apart in a run.
        """
        try:
            # Predict first: a table entry missing for this network is benchmarked on the
            # board, which needs the model pool free of the deployed network.
            per_layer = self._layer_costs(network, calib.shape[1:])
            result = api.deploy(network.cpu().eval(), calib, self.open())
        finally:
            self.close()
        predicted = {name: sum(values.values()) for name, values in per_layer.items()}
        layers = [{"name": t.name, "op": t.op, "measured_latency_s": float(t.latency_s),
                   "predicted_latency_s": per_layer["latency"].get(t.name)}
                  for t in result.per_layer]
        return {
            "measured_latency_s": result.latency_s,
            "measured_energy_j": result.energy_j,
            "energy_source": result.energy_source,
            "predicted_latency_s": predicted["latency"],
            "predicted_energy_j": predicted["energy"],
            "latency_error": abs(predicted["latency"] - result.latency_s) / result.latency_s,
            "image_bytes": result.image_bytes,
            "layers": layers,
        }


def calibration_inputs(batches: Iterable[Tensor], length: int, count: int = 2) -> Tensor:
    """The first ``count`` input batches, cut or zero-padded to the table's length."""
    kept = []
    for i, x in enumerate(batches):
        if i >= count:
            break
        x = x[..., :length]
        kept.append(torch.nn.functional.pad(x, (0, length - x.shape[-1])))
    return torch.cat(kept).cpu()
