"""Cost models: what the regularizer charges for one searchable layer.

A cost model answers two questions about a layer: ``soft`` gives a differentiable
cost from its soft masks (what the search minimises) and ``exact`` gives the cost of
its binarized geometry (what the exported network will have). Costs are summed over
the searchable layers and the residual adds whose width they set (free unless a model
charges them, as a board's table does); layers PIT does not search are constant and
left out.

To plug in another cost (for example a latency table measured on a board), subclass
:class:`CostModel` and implement both methods. A cost that can be written over all
layers at once may also override ``soft_network``, which the regularizer calls: the
built-in costs do, so their term costs a fixed number of ops whatever the layer count.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor

from .geometry import LayerArch, ResidualAdd, SoftLayer, SoftNetwork


class CostModel(ABC):
    """Differentiable and exact cost of one searchable layer."""

    @abstractmethod
    def soft(self, layer: SoftLayer) -> Tensor:
        """Cost under the soft masks; must be differentiable w.r.t. them."""

    @abstractmethod
    def exact(self, layer: LayerArch) -> float:
        """Cost of the binarized layer, as exported."""

    def total(self, layers: Sequence[LayerArch]) -> float:
        """Summed exact cost of a whole architecture. A model that must fetch its values
        (a board table measuring what it lacks) overrides this to fetch them at once."""
        return sum(self.exact(layer) for layer in layers)

    def soft_network(self, network: SoftNetwork) -> Tensor:
        """The soft cost summed over the searchable layers."""
        return torch.stack([self.soft(layer) for layer in network.layers]).sum()

    def soft_adds(self, channels: Tensor, adds: Sequence[ResidualAdd],
                  presence: Tensor | None = None) -> Tensor:
        """The residual adds' cost at expected channel counts ``channels`` (one per add),
        each scaled by its ``presence`` in [0, 1] when given (an add whose branch the
        search may remove, :class:`~pit_lightning.nas.PIT` ``drop_blocks``).

        Free here: an add has no weights and no multiplies. A model of a board, which
        spends time on them, overrides this and :meth:`total_adds` together.
        """
        return channels.new_zeros(())

    def total_adds(self, adds: Sequence[ResidualAdd]) -> float:
        """The exact cost of the residual adds of an architecture."""
        return 0.0


class ParamsCost(CostModel):
    """Weights and biases of the convolution."""

    def soft(self, layer: SoftLayer) -> Tensor:
        bias = layer.out_channels if layer.space.bias else 0.0
        return layer.in_channels * layer.out_channels * layer.taps + bias

    def soft_network(self, network: SoftNetwork) -> Tensor:
        weights = network.in_channels * network.out_channels * network.taps
        return (weights + network.out_channels * network.bias).sum()

    def exact(self, layer: LayerArch) -> float:
        return float(layer.params)


class MACsCost(CostModel):
    """Multiply-accumulates of one inference, over the layer's output length."""

    def soft(self, layer: SoftLayer) -> Tensor:
        return layer.in_channels * layer.out_channels * layer.taps * layer.space.length

    def soft_network(self, network: SoftNetwork) -> Tensor:
        return (network.in_channels * network.out_channels * network.taps
                * network.length).sum()

    def exact(self, layer: LayerArch) -> float:
        return float(layer.macs)


BUILTIN_COSTS: dict[str, type[CostModel]] = {"params": ParamsCost, "macs": MACsCost}


def resolve_costs(
    cost: str | CostModel | dict[str, str | CostModel] | None,
) -> dict[str, CostModel]:
    """Normalise the ``cost=`` argument of :class:`~pit_lightning.nas.PIT` to named models."""
    if cost is None:
        return {}
    if not isinstance(cost, dict):
        name = cost if isinstance(cost, str) else type(cost).__name__
        cost = {name: cost}
    resolved = {}
    for name, model in cost.items():
        if isinstance(model, str):
            if model not in BUILTIN_COSTS:
                raise ValueError(
                    f"unknown cost {model!r} for {name!r}; built-in costs are "
                    f"{sorted(BUILTIN_COSTS)}, or pass a CostModel instance"
                )
            model = BUILTIN_COSTS[model]()
        if not isinstance(model, CostModel):
            raise TypeError(f"cost {name!r} must be a CostModel or a name, got {model!r}")
        resolved[name] = model
    return resolved
