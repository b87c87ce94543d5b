"""Seed networks by name for the CLI (``--seed TEMPONet``), with an example input."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hw_profiler.errors import DeployError

# name -> (factory attribute in pit_lightning.seeds, example input shape (C, T))
SEEDS: dict[str, tuple[str, tuple[int, int]]] = {
    "temponet": ("TEMPONet", (4, 256)),
    "restcn_jsb": ("restcn_jsb", (88, 32)),
    "restcn_nottingham": ("restcn_nottingham", (88, 32)),
}


def build_seed(name: str) -> tuple[nn.Module, Tensor]:
    try:
        from pit_lightning import seeds
    except ImportError as exc:  # pragma: no cover - part of the same project
        raise DeployError(f"seed {name!r} needs pit_lightning.seeds: {exc}") from exc
    key = name.lower()
    if key not in SEEDS:
        raise DeployError(f"unknown seed {name!r}; known: {', '.join(SEEDS)}")
    attr, shape = SEEDS[key]
    model = getattr(seeds, attr)().eval()
    return model, torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
