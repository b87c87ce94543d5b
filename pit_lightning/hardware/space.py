"""A PIT search space as the geometries a board measures.

For each searchable layer (a ``LayerSpace``) the search can change the dilation (powers
of two up to the seed's receptive field), the kept taps at that dilation (receptive-field
search) and the channel counts, sampled on a :class:`~hw_profiler.geometry.ChannelGrid`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hw_profiler.geometry import ChannelGrid, LayerGeometry

from ..cost.geometry import SEARCH_OPTIONS, LayerArch, LayerSpace, ResidualAdd
from ..nas import PIT
from .named_seeds import build_seed

DEFAULT_GRID = ChannelGrid()


def check_search(search: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(search)
    unknown = set(chosen) - set(SEARCH_OPTIONS)
    if unknown:
        raise ValueError(
            f"unknown search option(s) {sorted(unknown)}; expected {', '.join(SEARCH_OPTIONS)}"
        )
    return chosen


def conv_geometry(
    c_in: int, c_out: int, taps: int, dilation: int, length: int, dtype: str = "int8"
) -> LayerGeometry:
    """A causal conv's key; one tap sees a single sample whatever the dilation."""
    return LayerGeometry("conv1d", c_in, c_out, taps, dilation if taps > 1 else 1, length, dtype)


def geometry_of(arch: LayerArch, dtype: str = "int8") -> LayerGeometry:
    """The key of an exported (binarized) searchable layer."""
    return conv_geometry(arch.in_channels, arch.out_channels, arch.kernel_size, arch.dilation,
                         arch.length, dtype)


def add_geometry(channels: int, length: int, dtype: str = "int8") -> LayerGeometry:
    """The key of a residual add of ``channels`` x ``length``."""
    return LayerGeometry("add", channels, channels, 1, 1, length, dtype)


def add_grid(add: ResidualAdd, grid: ChannelGrid = DEFAULT_GRID) -> list[int]:
    """The channel counts at which an add's cost is measured (the search interpolates)."""
    return grid.values(add.channels)


@dataclass(frozen=True)
class LayerReach:
    """The axes one searchable layer can move along under the given search options."""

    space: LayerSpace
    dilations: tuple[int, ...]
    c_ins: list[int]
    c_outs: list[int]
    searches_rf: bool

    @classmethod
    def of(cls, space: LayerSpace, search: Iterable[str] = SEARCH_OPTIONS,
           grid: ChannelGrid = DEFAULT_GRID) -> LayerReach:
        chosen = check_search(search)
        channels = "channels" in chosen
        return cls(
            space,
            space.dilations if "dilation" in chosen else (1,),
            [*([0] if space.empty_in else []), *grid.values(space.in_channels)]
            if channels and space.searches_in_channels else [space.in_channels],
            [*([0] if space.empty_out else []), *grid.values(space.out_channels)]
            if channels and space.searches_out_channels else [space.out_channels],
            "rf" in chosen,
        )

    def taps(self, dilation: int) -> range:
        most = self.space.max_taps(dilation)
        return range(1 if self.searches_rf else most, most + 1)

    def geometries(self, dtype: str = "int8") -> set[LayerGeometry]:
        return {  # a layer with no channel is removed: nothing to measure
            conv_geometry(ci, co, k, d, self.space.length, dtype)
            for d in self.dilations for k in self.taps(d)
            for ci in self.c_ins for co in self.c_outs if ci and co
        }


def layer_geometries(
    space: LayerSpace,
    search: Iterable[str] = SEARCH_OPTIONS,
    grid: ChannelGrid = DEFAULT_GRID,
    dtype: str = "int8",
) -> set[LayerGeometry]:
    """Geometries one searchable layer can take under the given search options."""
    return LayerReach.of(space, search, grid).geometries(dtype)


def enumerate_geometries(
    spaces: Sequence[LayerSpace],
    search: Iterable[str] = SEARCH_OPTIONS,
    grid: ChannelGrid = DEFAULT_GRID,
    dtype: str = "int8",
    adds: Sequence[ResidualAdd] = (),
) -> list[LayerGeometry]:
    """Deduplicated, sorted union of every layer's reachable geometries and, when
    channels are searched, the grid of each residual add."""
    search = tuple(search)
    found: set[LayerGeometry] = set()
    for space in spaces:
        found |= layer_geometries(space, search, grid, dtype)
    if "channels" in search:
        found |= {add_geometry(c, add.length, dtype) for add in adds for c in add_grid(add, grid)}
    return sorted(found)


def spaces_from_seed(seed: str, search: Iterable[str] = SEARCH_OPTIONS) -> list[LayerSpace]:
    """Build a seed network by name and ask PIT for its search space."""
    model, example = build_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unsearched (strided) layers are expected
        pit = PIT(model, example_input=example, search=check_search(search))
    return list(pit.search_space())
