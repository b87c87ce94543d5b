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
    above it. Targets are in the cost's own unit (params, seconds, ...).

    With ``normalize`` (the default) each cost is divided by the seed's cost, so the
    strength is the loss paid for the whole seed: 1.0 charges as much task loss as
    the seed's full size, whatever the task, the cost or its unit.

    A target is checked against the exported architecture when the caller passes its
    ``exact`` costs: the term takes the exact cost's value and the soft cost's gradient
    (straight through). The soft cost of gates that have moved but not yet closed is
    below what the export keeps, so a hinge on the soft cost alone stops pushing while
    the exported network is still over the target (on ArrowHead an 8 ms latency target
    ended at 25 ms).
    """

    strength: float | dict[str, float]
    target: float | dict[str, float] | None = None
    normalize: bool = True

    def __post_init__(self) -> None:
        for label, value in (("strength", self.strength), ("target", self.target)):
            values = value.values() if isinstance(value, dict) else [value]
            if any(v is not None and v < 0 for v in values):
                raise ValueError(f"regularizer {label} must be non-negative, got {value}")

    def __call__(self, costs: dict[str, Tensor], seed: dict[str, float] | None = None,
                 exact: dict[str, float] | None = None) -> Tensor:
        """The loss term; ``seed`` (each cost of the seed) is needed when normalising.

        ``exact`` (each cost of the binarized architecture) decides a target's hinge.
        """
        if exact is not None and self.target is not None:
            costs = {name: cost - cost.detach() + exact[name] for name, cost in costs.items()}
        scale = self._scales(costs, seed)
        if isinstance(self.strength, dict) or isinstance(self.target, dict):
            return sum(
                (self._term(costs[name], self._pick(self.strength, name),
                            self._pick(self.target, name), scale[name]) for name in costs),
                start=torch.zeros(()),
            )
        total = torch.stack([costs[name] / scale[name] for name in costs]).sum()
        target = self.target
        if target is not None and self.normalize:
            if len(costs) > 1:
                raise ValueError("costs in different units need a target per cost name, "
                                 f"e.g. {{{next(iter(costs))!r}: ...}}")
            target = target / next(iter(scale.values()))
        return self._term(total, self.strength, target, 1.0)

    def meets_target(self, exact: dict[str, float]) -> bool:
        """Whether costs ``exact`` (in their own units) are within the target (no target:
        always)."""
        return self.excess(exact) <= 0.0

    def excess(self, exact: dict[str, float]) -> float:
        """How far costs ``exact`` are over the target, as a fraction of it (summed over
        the targeted costs, so units do not mix); 0 when within it or without one."""
        if self.target is None:
            return 0.0
        pairs = ([(exact[name], value) for name, value in self.target.items() if name in exact]
                 if isinstance(self.target, dict) else [(sum(exact.values()), self.target)])
        return sum(max(0.0, cost - target) / (target or 1.0) for cost, target in pairs)

    def _scales(self, costs: dict[str, Tensor], seed: dict[str, float] | None
                ) -> dict[str, float]:
        if not self.normalize:
            return dict.fromkeys(costs, 1.0)
        if seed is None or any(name not in seed for name in costs):
            raise ValueError("a normalised regularizer needs the seed's cost of every named "
                             f"cost ({sorted(costs)}), got {seed}")
        bad = [name for name in costs if not seed[name] > 0]
        if bad:
            raise ValueError(f"cannot normalise by a seed cost <= 0: {bad}")
        return {name: float(seed[name]) for name in costs}

    @staticmethod
    def _pick(value: float | dict[str, float] | None, name: str) -> float | None:
        return value.get(name) if isinstance(value, dict) else value

    @staticmethod
    def _term(cost: Tensor, strength: float | None, target: float | None,
              scale: float) -> Tensor:
        if not strength:
            return cost.new_zeros(())
        if target is None:
            return strength * cost / scale
        return strength * torch.relu(cost - target) / scale
