"""Every layer geometry a PIT search can reach, as latency-table keys.

For each searchable layer (a ``LayerSpace``) the search can change the dilation (powers
of two up to the seed's receptive field), the kept taps at that dilation (receptive-field
search) and the channel counts. Channel counts 1..C are too many to measure, so they are
sampled on a grid: 1, every multiple of ``step`` below C, and C itself. Latency between
grid points is interpolated by the regularizer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields

from pit_lightning.cost.geometry import SEARCH_OPTIONS, LayerArch, LayerSpace

OPS = ("conv1d", "linear", "avgpool", "maxpool", "add")
DTYPES = ("int8", "float32")


@dataclass(frozen=True, order=True)
class LayerGeometry:
    """One measurable layer: the latency table's key."""

    op: str
    c_in: int
    c_out: int
    kernel: int
    dilation: int
    length: int  # input time steps (a causal conv keeps the length)
    dtype: str = "int8"
    stride: int = 1

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown op {self.op!r}; expected one of {', '.join(OPS)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; expected one of {', '.join(DTYPES)}")
        for name in ("c_in", "c_out", "kernel", "dilation", "length", "stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 in {self}")

    @property
    def macs(self) -> int:
        if self.op == "conv1d":
            return self.length * self.c_out * self.c_in * self.kernel
        if self.op == "linear":
            return self.length * self.c_out * self.c_in
        if self.op in ("avgpool", "maxpool"):
            return ((self.length - self.kernel) // self.stride + 1) * self.c_in * self.kernel
        return self.length * self.c_in

    @classmethod
    def from_arch(cls, arch: LayerArch, dtype: str = "int8") -> LayerGeometry:
        """The key of an exported (binarized) searchable layer."""
        dilation = arch.dilation if arch.kernel_size > 1 else 1
        return cls(
            "conv1d",
            arch.in_channels,
            arch.out_channels,
            arch.kernel_size,
            dilation,
            arch.length,
            dtype,
        )

    def as_key(self) -> tuple:
        return astuple(self)

    @classmethod
    def key_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def parse(cls, text: str) -> LayerGeometry:
        """'conv1d:c_in=4,c_out=32,kernel=5,dilation=1,length=256[,dtype=int8]'."""
        op, _, rest = text.partition(":")
        kwargs: dict[str, object] = {}
        for item in filter(None, rest.split(",")):
            name, _, value = item.partition("=")
            name = name.strip()
            kwargs[name] = value.strip() if name == "dtype" else int(value)
        return cls(op=op.strip(), **kwargs)  # type: ignore[arg-type]

    def __str__(self) -> str:
        text = (
            f"{self.op}:c_in={self.c_in},c_out={self.c_out},kernel={self.kernel},"
            f"dilation={self.dilation},length={self.length},dtype={self.dtype}"
        )
        return text + (f",stride={self.stride}" if self.stride != 1 else "")


@dataclass(frozen=True)
class ChannelGrid:
    """Sampled channel counts: 1, step, 2*step, ..., and the maximum."""

    step: int = 8

    def __post_init__(self) -> None:
        if self.step < 1:
            raise ValueError("channel grid step must be >= 1")

    def values(self, maximum: int) -> list[int]:
        return sorted({1, maximum, *range(self.step, maximum, self.step)})


def _check_search(search: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(search)
    unknown = chosen - set(SEARCH_OPTIONS)
    if unknown:
        raise ValueError(
            f"unknown search option(s) {sorted(unknown)}; expected {', '.join(SEARCH_OPTIONS)}"
        )
    return chosen


def layer_geometries(
    space: LayerSpace,
    search: Iterable[str] = SEARCH_OPTIONS,
    grid: ChannelGrid = ChannelGrid(),
    dtype: str = "int8",
) -> set[LayerGeometry]:
    """Geometries one searchable layer can take under the given search options."""
    chosen = _check_search(search)
    dilations = space.dilations if "dilation" in chosen else (1,)
    searches_channels = "channels" in chosen
    c_ins = (
        grid.values(space.in_channels)
        if searches_channels and space.searches_in_channels
        else [space.in_channels]
    )
    c_outs = (
        grid.values(space.out_channels)
        if searches_channels and space.searches_out_channels
        else [space.out_channels]
    )
    out: set[LayerGeometry] = set()
    for d in dilations:
        most = space.max_taps(d)
        taps = range(1, most + 1) if "rf" in chosen else (most,)
        for k in taps:
            # one tap sees a single sample whatever the dilation: key it as dilation 1
            dil = d if k > 1 else 1
            for ci in c_ins:
                for co in c_outs:
                    out.add(LayerGeometry("conv1d", ci, co, k, dil, space.length, dtype))
    return out


def enumerate_geometries(
    spaces: Sequence[LayerSpace],
    search: Iterable[str] = SEARCH_OPTIONS,
    grid: ChannelGrid = ChannelGrid(),
    dtype: str = "int8",
) -> list[LayerGeometry]:
    """Deduplicated, sorted union of every layer's reachable geometries."""
    search = tuple(search)
    found: set[LayerGeometry] = set()
    for space in spaces:
        found |= layer_geometries(space, search, grid, dtype)
    return sorted(found)


def spaces_from_seed(seed: str, search: Iterable[str] = SEARCH_OPTIONS) -> list[LayerSpace]:
    """Build a seed network from ``pit_lightning.seeds`` and ask PIT for its search space.

    Imported lazily: the profiler works on hand-built LayerSpace records without it.
    """
    import warnings

    from hw_profiler.deploy.seeds import build_seed

    try:
        from pit_lightning.nas import PIT
    except ImportError as exc:
        raise RuntimeError(f"seed {seed!r} needs pit_lightning.nas.PIT: {exc}") from exc
    model, example = build_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unsearched (strided) layers are expected
        pit = PIT(model, example_input=example, search=tuple(search))
    return list(pit.search_space())
