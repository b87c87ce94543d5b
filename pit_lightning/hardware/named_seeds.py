"""Seed networks by name (``--seed TEMPONet``), each with an example input."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .. import seeds

# name -> (factory, example input shape (C, T))
SEEDS: dict[str, tuple[Callable[[], nn.Module], tuple[int, int]]] = {
    "temponet": (seeds.TEMPONet, (4, 256)),
    "temponet_hand_tuned": (lambda: seeds.TEMPONet(hand_tuned=True), (4, 256)),
    "restcn_jsb": (seeds.restcn_jsb, (88, 32)),
    "restcn_nottingham": (seeds.restcn_nottingham, (88, 32)),
}


def build_seed(name: str) -> tuple[nn.Module, Tensor]:
    """The seed in eval mode and a fixed random example input of batch size 1."""
    key = name.lower()
    if key not in SEEDS:
        raise ValueError(f"unknown seed {name!r}; known: {', '.join(SEEDS)}")
    factory, shape = SEEDS[key]
    return factory().eval(), torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
