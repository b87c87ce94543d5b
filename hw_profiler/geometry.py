"""What a board measures: one layer's geometry, the key of a latency-table row.

A leaf module (standard library only) so that the serial client, the table and any
search front end can share the key without importing each other.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields

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
    length: int  # input time steps
    """A conv is measured with (k-1)*d samples of zero padding: stride 1 keeps the length,
    stride s gives ceil(length / s) output steps."""
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
            return self.out_length * self.c_out * self.c_in * self.kernel
        if self.op == "linear":
            return self.length * self.c_out * self.c_in
        if self.op in ("avgpool", "maxpool"):
            return self.out_length * self.c_in * self.kernel
        return self.length * self.c_in

    @property
    def out_length(self) -> int:
        if self.op == "conv1d":
            return (self.length - 1) // self.stride + 1
        if self.op in ("avgpool", "maxpool"):
            return (self.length - self.kernel) // self.stride + 1
        return self.length

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


def read_geometries(text: str, source: str = "<text>") -> list[LayerGeometry]:
    """One geometry per line; blank lines and ``#`` comments are skipped. A bad line
    raises ValueError naming ``source`` and the line number."""
    geometries = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            try:
                geometries.append(LayerGeometry.parse(line))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{source}:{number}: bad geometry {line!r}: {exc}") from exc
    return geometries


def write_geometries(geometries: list[LayerGeometry]) -> str:
    """The text :func:`read_geometries` reads back."""
    return "".join(f"{g}\n" for g in geometries)


@dataclass(frozen=True)
class ChannelGrid:
    """Sampled channel counts: 1, step, 2*step, ..., and the maximum.

    Counts 1..C are too many to measure; the cost interpolates between grid points.
    """

    step: int = 8

    def __post_init__(self) -> None:
        if self.step < 1:
            raise ValueError("channel grid step must be >= 1")

    def values(self, maximum: int) -> list[int]:
        return sorted({1, maximum, *range(self.step, maximum, self.step)})
