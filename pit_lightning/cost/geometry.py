"""What a cost model sees of a searchable layer: its search space, soft state and exact state."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class LayerSpace:
    """The static search space of one searchable Conv1d.

    Channel counts range over 1..max (when ``searches_*_channels``); the time axis can
    keep ``taps`` in 1..ceil(kernel_size / d) at each dilation ``d`` in ``dilations``.
    """

    name: str
    in_channels: int
    out_channels: int
    kernel_size: int  # the seed's kernel: the largest receptive field
    dilations: tuple[int, ...]  # reachable dilations, 1 first
    length: int  # output time steps
    bias: bool
    searches_in_channels: bool
    searches_out_channels: bool

    def max_taps(self, dilation: int) -> int:
        """Most taps a kernel can keep at ``dilation`` within the seed's receptive field."""
        return (self.kernel_size - 1) // dilation + 1


@dataclass(frozen=True)
class LayerArch:
    """The binarized (exported) geometry of one searchable layer."""

    name: str
    in_channels: int
    out_channels: int
    kernel_size: int  # kept taps
    dilation: int
    receptive_field: int  # (kernel_size - 1) * dilation + 1
    length: int
    bias: bool

    @property
    def params(self) -> int:
        return self.in_channels * self.out_channels * self.kernel_size + (
            self.out_channels if self.bias else 0
        )

    @property
    def macs(self) -> int:
        return self.in_channels * self.out_channels * self.kernel_size * self.length


@dataclass(frozen=True)
class SoftLayer:
    """A searchable layer's differentiable state under its soft (unbinarized) masks.

    Probabilities come from the NAS parameters clamped to [0, 1]; they are what a
    regularizer differentiates. ``in_keep``/``out_keep`` hold each channel's keep
    probability (ones where channels are not searched).
    """

    space: LayerSpace
    in_keep: Tensor  # (in_channels,)
    out_keep: Tensor  # (out_channels,)
    tap_keep: Tensor  # (kernel_size,), index j = j samples before the newest
    dilation_probs: Tensor  # (len(space.dilations),), sums to 1
    rf_probs: Tensor  # (kernel_size,), P(receptive field == r + 1), sums to 1

    @property
    def in_channels(self) -> Tensor:
        return self.in_keep.sum()

    @property
    def out_channels(self) -> Tensor:
        return self.out_keep.sum()

    @property
    def taps(self) -> Tensor:
        return self.tap_keep.sum()
