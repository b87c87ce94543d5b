"""The search-phase regularizer: strength times cost, or a penalty above a target."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Regularizer:
    """Turns the PIT costs into the loss term of the search phase.

    ``strength`` and ``target`` are one number for the sum of all named costs, or a
    dict by cost name. Without a target the term is ``strength * cost`` (the DAC
    formulation); with one it is ``strength * max(0, cost - target)``: the search may
    spend freely below the target ("at most 20k params") and pays for every unit
    above it.
    """

    strength: float | dict[str, float]
    target: float | dict[str, float] | None = None

    def __post_init__(self) -> None:
        for label, value in (("strength", self.strength), ("target", self.target)):
            values = value.values() if isinstance(value, dict) else [value]
            if any(v is not None and v < 0 for v in values):
                raise ValueError(f"regularizer {label} must be non-negative, got {value}")

    def __call__(self, costs: dict[str, Tensor]) -> Tensor:
        if isinstance(self.strength, dict) or isinstance(self.target, dict):
            return sum(
                (self._term(costs[name], self._pick(self.strength, name),
                            self._pick(self.target, name)) for name in costs),
                start=torch.zeros(()),
            )
        return self._term(torch.stack(list(costs.values())).sum(), self.strength, self.target)

    @staticmethod
    def _pick(value: float | dict[str, float] | None, name: str) -> float | None:
        return value.get(name) if isinstance(value, dict) else value

    @staticmethod
    def _term(cost: Tensor, strength: float | None, target: float | None) -> Tensor:
        if not strength:
            return cost.new_zeros(())
        if target is None:
            return strength * cost
        return strength * torch.relu(cost - target)
