"""What a cost model sees of a searchable layer: its search space, soft state and exact state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from ..nas.layer import PITConv1d


SEARCH_OPTIONS = ("dilation", "rf", "channels")
"""What PIT can search: power-of-two dilation, receptive field, output channels."""


@dataclass(frozen=True)
class LayerSpace:
    """The static search space of one searchable Conv1d.

    Channel counts range over 1..max (when ``searches_*_channels``), from 0 where
    ``empty_*``: the head (output) and tail (input) of a residual branch the search may
    remove; the time axis can keep ``taps`` in 1..ceil(kernel_size / d) at each dilation
    ``d`` in ``dilations``.
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
    empty_in: bool = False
    empty_out: bool = False

    def max_taps(self, dilation: int) -> int:
        """Most taps a kernel can keep at ``dilation`` within the seed's receptive field."""
        return (self.kernel_size - 1) // dilation + 1


@dataclass(frozen=True)
class ResidualAdd:
    """A residual add whose channel count follows searchable channel masks.

    It has no weights, but a board spends time on it: over a long series a wide
    residual stream's adds can cost as much as its convs. ``channels`` is the seed's
    count in a search space and the kept count in an exported architecture.
    """

    name: str
    channels: int
    length: int  # time steps


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
    def removed(self) -> bool:
        """No channel in or out: the layer's residual branch was removed."""
        return self.in_channels == 0 or self.out_channels == 0

    @property
    def params(self) -> int:
        return self.in_channels * self.out_channels * self.kernel_size + (
            self.out_channels if self.bias and not self.removed else 0
        )

    @property
    def macs(self) -> int:
        return self.in_channels * self.out_channels * self.kernel_size * self.length

    def to_dict(self) -> dict[str, Any]:
        """The record with its params, MACs and whether it was removed, for JSON and
        tables."""
        return {**asdict(self), "params": self.params, "macs": self.macs,
                "removed": self.removed}


class SoftLayer:
    """A searchable layer's differentiable state, what a regularizer differentiates.

    By default keep values are the NAS parameters clamped to [0, 1]: the cost is an
    expected cost, and each gate's share of it shrinks as the gates it multiplies
    close, which eases the pressure on a layer already cut back. With ``binarized``
    keep values are the binarized masks, 0 or 1, with straight-through gradients: the
    cost is the exact cost of the current architecture and each gate is charged what
    it alone adds given the others (the DAC form: a dilation gate costs its taps times
    the channels actually kept). That pressure does not ease, and small networks
    collapse (see the ablation in docs/pit.md). ``binarized_dilation`` binarizes the
    dilation masks alone (default: as ``binarized``). The keep values are slices of one
    batched evaluation of every mask (:class:`SoftNetwork`); ``in_keep``/``out_keep``
    are ones where channels are not searched.
    """

    def __init__(
        self,
        space: LayerSpace,
        layer: PITConv1d,
        in_keep: Tensor,
        out_keep: Tensor,
        tap_keep: Tensor,
        binarized: bool = False,
        binarized_dilation: bool | None = None,
    ) -> None:
        self.space = space
        self._layer = layer
        self.in_keep = in_keep
        """Keep value of each input channel, shape (in_channels,)."""
        self.out_keep = out_keep
        """Keep value of each output channel, shape (out_channels,)."""
        self.tap_keep = tap_keep
        """Keep value of each tap, shape (kernel_size,); index j = j samples back."""
        self.binarized = binarized
        self.binarized_dilation = binarized if binarized_dilation is None else binarized_dilation

    @property
    def dilation_probs(self) -> Tensor:
        """P(dilation == space.dilations[i]); sums to 1."""
        mask = self._layer.dilation_mask
        if mask is None:
            return self._layer.conv.weight.new_ones(1)
        return mask.probabilities(self.binarized_dilation)

    @property
    def rf_probs(self) -> Tensor:
        """P(receptive field == r + 1) for r = 0..kernel_size - 1; sums to 1."""
        mask = self._layer.rf_mask
        if mask is not None:
            return mask.probabilities(self.binarized)
        probs = self._layer.conv.weight.new_zeros(self.space.kernel_size)
        probs[-1] = 1.0
        return probs

    @property
    def in_channels(self) -> Tensor:
        return self.in_keep.sum()

    @property
    def out_channels(self) -> Tensor:
        return self.out_keep.sum()

    @property
    def taps(self) -> Tensor:
        return self.tap_keep.sum()


class SoftNetwork:
    """Every searchable layer's soft state, with the per-layer sums batched.

    ``in_channels``, ``out_channels`` and ``taps`` are (layers,) tensors equal to the
    per-layer :class:`SoftLayer` sums; ``length`` and ``bias`` are (layers,) constants.
    A cost model written over these pays a fixed number of ops whatever the layer
    count (see :meth:`~pit_lightning.cost.CostModel.soft_network`); :attr:`layers` is
    built on first use, for cost models that read one layer at a time.
    """

    def __init__(self, layers: Callable[[], list[SoftLayer]], in_channels: Tensor,
                 out_channels: Tensor, taps: Tensor, length: Tensor, bias: Tensor) -> None:
        self._make_layers = layers
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.taps = taps
        self.length = length
        self.bias = bias

    @cached_property
    def layers(self) -> list[SoftLayer]:
        return self._make_layers()


def conv_arch(model: nn.Module, example_input: Tensor) -> list[LayerArch]:
    """A plain network's ``nn.Conv1d`` layers as records, in call order.

    What a PIT search reports for its searchable layers, read off a network that was
    never searched (a hand-designed baseline), so both count params and MACs alike.
    A conv padded by ``(k - 1) * d`` on both sides is counted as the causal conv it
    stands for (Bai et al.'s chomp drops the right-hand outputs), as PIT counts it.
    """
    records: list[LayerArch] = []
    names = {module: name for name, module in model.named_modules()}

    def record(conv: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        k, d = conv.kernel_size[0], conv.dilation[0]
        causal = k > 1 and conv.padding == ((k - 1) * d,) and conv.stride == (1,)
        length = inputs[0].shape[-1] if causal else output.shape[-1]
        records.append(LayerArch(
            name=names[conv], in_channels=conv.in_channels // conv.groups,
            out_channels=conv.out_channels, kernel_size=k, dilation=d,
            receptive_field=(k - 1) * d + 1, length=int(length),
            bias=conv.bias is not None,
        ))

    hooks = [m.register_forward_hook(record) for m in model.modules()
             if isinstance(m, nn.Conv1d)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example_input)
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return records
