"""Cost models that read a latency/energy lookup table measured on a board.

The soft cost is an expectation, in the spirit of ProxylessNAS: under its soft masks a
layer still reaches several (taps, dilation) pairs with some probability, and channel
counts in between the table's grid points. The table is first laid out per layer as a
dense tensor ``value[dilation, taps, c_in grid, c_out grid]``; then

    soft = sum_{p, t} P(dilation p, taps t) * bilinear(value[p, t], E[c_in], E[c_out])

which is differentiable in every mask. On a binarized architecture whose channel counts
sit on the grid this equals the exact cost, the sum of the table entries, which
:meth:`TableCost.exact` reads (measuring off-grid geometries on demand when a board is
attached).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor

from hw_profiler.geometry import ChannelGrid, LayerGeometry
from hw_profiler.table import LatencyTable

from ..cost.geometry import SEARCH_OPTIONS, LayerArch, LayerSpace, ResidualAdd, SoftLayer
from ..cost.models import CostModel
from .space import LayerReach, add_geometry, add_grid, check_search, conv_geometry, geometry_of

Measure = Callable[[list[LayerGeometry]], None]


class MissingEntriesError(LookupError):
    """The table lacks geometries and no board is attached to measure them."""

    def __init__(self, missing: Sequence[LayerGeometry], source: str) -> None:
        shown = "\n  ".join(str(g) for g in missing[:20])
        more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
        super().__init__(
            f"{len(missing)} layer geometries are not in {source} and no board is attached "
            f"to measure them:\n  {shown}{more}\nProfile them with `hw-profiler profile` "
            "or attach a board (HardwareInTheLoop callback)."
        )
        self.missing = list(missing)


def _hat_weights(value: Tensor, grid: Tensor) -> Tensor:
    """Piecewise-linear interpolation weights of ``value`` on a sorted ``grid``."""
    if len(grid) == 1:
        return torch.ones(1, dtype=value.dtype, device=value.device)
    value = value.clamp(float(grid[0]), float(grid[-1]))
    right = torch.searchsorted(grid, value.detach().reshape(1), right=True).clamp(1, len(grid) - 1)
    left = right - 1
    lo, hi = grid[left], grid[right]
    frac = ((value - lo) / (hi - lo)).reshape(1)
    weights = torch.zeros(len(grid), dtype=value.dtype, device=value.device)
    return weights.index_add(0, left, 1.0 - frac).index_add(0, right, frac)


class TableCost(CostModel):
    """Latency (``column="latency_s"``) or energy (``"energy_j"``) from a measured table.

    Args:
        table: the measured table.
        spaces: the searchable layers (``PIT.search_space()``); without them only
            :meth:`exact` is available (a fixed, exported architecture).
        search: the search options of the PIT network (the table is enumerated for them).
        channel_step: the table's channel grid step.
        column: the table column to charge.
        measure: called with missing geometries to measure them into the table (a board
            is attached); without it a missing geometry raises
            :class:`MissingEntriesError` listing them all.
    """

    def __init__(
        self,
        table: LatencyTable,
        spaces: Sequence[LayerSpace] = (),
        search: Iterable[str] = SEARCH_OPTIONS,
        channel_step: int = 8,
        column: str = "latency_s",
        dtype: str = "int8",
        measure: Measure | None = None,
    ) -> None:
        self.table = table
        self.column = column
        self.dtype = dtype
        self.measure = measure
        self.search = check_search(search)
        self.grid = grid = ChannelGrid(channel_step)
        self._reach = {space.name: LayerReach.of(space, self.search, grid) for space in spaces}
        self._ensure(sorted({g for r in self._reach.values() for g in r.geometries(dtype)}))
        self._dense: dict[tuple[str, torch.device, torch.dtype], dict[str, Tensor]] = {}
        self._adds: dict[tuple[int, int], tuple[Tensor, Tensor]] = {}

    # -- table access ----------------------------------------------------------------

    def _ensure(self, geometries: Sequence[LayerGeometry]) -> None:
        missing = self.table.missing(geometries)
        if missing and self.measure is not None:
            self.measure(missing)
            missing = self.table.missing(missing)
        if missing:
            raise MissingEntriesError(missing, str(self.table.path))

    def entry(self, geometry: LayerGeometry) -> float:
        """The table's value for one geometry (any op), measured first if missing."""
        return self.entries([geometry])[0]

    def entries(self, geometries: Sequence[LayerGeometry]) -> list[float]:
        """The table's values for ``geometries``; the missing ones are measured in one
        batch (one progress bar, one board session)."""
        self._ensure(geometries)
        return [self._value(geometry) for geometry in geometries]

    def _value(self, geometry: LayerGeometry) -> float:
        row = self.table.row(geometry)
        if row["status"] not in ("ok", None):
            raise ValueError(f"{geometry} could not be measured on the board: {row['status']}")
        return float(row[self.column])

    def _layout(self, reach: LayerReach) -> dict[str, Tensor]:
        space = reach.space
        max_taps = space.max_taps(1)
        shape = (len(reach.dilations), max_taps, len(reach.c_ins), len(reach.c_outs))
        value = torch.zeros(shape, dtype=torch.float64)
        # reach_rf[p, r, t] = 1 when receptive field r + 1 at dilation p keeps t + 1 taps.
        reach_rf = torch.zeros(len(reach.dilations), space.kernel_size, max_taps)
        for p, d in enumerate(reach.dilations):
            for r in range(space.kernel_size):
                reach_rf[p, r, r // d] = 1.0
            for t in reach.taps(d):
                for i, ci in enumerate(reach.c_ins):
                    for j, co in enumerate(reach.c_outs):
                        if ci and co:  # no channel: the layer's branch is removed, free
                            geometry = conv_geometry(ci, co, t, d, space.length, self.dtype)
                            value[p, t - 1, i, j] = self._value(geometry)
        return {
            "value": value,
            "reach": reach_rf,
            "c_in": torch.tensor(reach.c_ins, dtype=torch.float32),
            "c_out": torch.tensor(reach.c_outs, dtype=torch.float32),
        }

    # -- CostModel -------------------------------------------------------------------

    def soft(self, layer: SoftLayer) -> Tensor:
        name = layer.space.name
        device, dtype = layer.tap_keep.device, layer.tap_keep.dtype
        # Laid out once per layer, converted once per device and dtype: this runs in
        # every training step of a search.
        key = (name, device, dtype)
        if key not in self._dense:
            if name not in self._reach:
                raise KeyError(f"layer {name!r} was not in the search space given to TableCost")
            self._dense[key] = {k: v.to(device, dtype)
                                for k, v in self._layout(self._reach[name]).items()}
        dense = self._dense[key]
        # P(dilation p, taps t) from independent dilation and receptive-field masks.
        joint = layer.dilation_probs[:, None] * torch.einsum("r,prt->pt", layer.rf_probs,
                                                             dense["reach"])
        w_in = _hat_weights(layer.in_channels, dense["c_in"])
        w_out = _hat_weights(layer.out_channels, dense["c_out"])
        return torch.einsum("pt,ptij,i,j->", joint, dense["value"], w_in, w_out)

    def soft_adds(self, channels: Tensor, adds: Sequence[ResidualAdd],
                  presence: Tensor | None = None) -> Tensor:
        """Each add's table entries interpolated at its expected channel count."""
        terms = [channels.new_zeros(())]
        for i, (count, add) in enumerate(zip(channels, adds, strict=True)):
            grid, value = self._add_layout(add)
            grid, value = grid.to(channels), value.to(channels)
            term = _hat_weights(count, grid) @ value
            terms.append(term if presence is None else term * presence[i])
        return torch.stack(terms).sum()

    def _add_layout(self, add: ResidualAdd) -> tuple[Tensor, Tensor]:
        key = (add.channels, add.length)
        if key not in self._adds:
            counts = add_grid(add, self.grid)
            values = self.entries([add_geometry(c, add.length, self.dtype) for c in counts])
            self._adds[key] = (torch.tensor(counts, dtype=torch.float64),
                               torch.tensor(values, dtype=torch.float64))
        return self._adds[key]

    def total_adds(self, adds: Sequence[ResidualAdd]) -> float:
        return sum(self.entries([add_geometry(a.channels, a.length, self.dtype) for a in adds]))

    def exact(self, layer: LayerArch) -> float:
        return self.total([layer])

    def total(self, layers: Sequence[LayerArch]) -> float:
        return sum(self.entries([geometry_of(layer, self.dtype) for layer in layers
                                 if not layer.removed]))

