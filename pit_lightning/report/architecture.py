"""Per-layer architecture chart: the seed's geometry beside each found network's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .axes import pyplot, save

Layers = Sequence[Mapping[str, Any]]
PANELS = (("out_channels", "output channels"), ("receptive_field", "receptive field (steps)"),
          ("dilation", "dilation"), ("kernel_size", "kernel taps"))


def plot_architectures(networks: Mapping[str, Layers], path: str | Path) -> Path:
    """Grouped bars per searchable layer, one group member per network.

    ``networks`` maps a legend name (the seed first) to its ``arch.json`` layers; layers
    are matched by name, in the first network's order.
    """
    plt = pyplot()

    names = [layer["name"] for layer in next(iter(networks.values()))]
    by_name = {label: {layer["name"]: layer for layer in layers}
               for label, layers in networks.items()}
    width = 0.8 / len(networks)
    x = np.arange(len(names))
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(max(6.0, 0.7 * len(names) + 3), 9),
                             sharex=True)
    for ax, (field, title) in zip(axes, PANELS, strict=True):
        for i, (label, layers) in enumerate(by_name.items()):
            values = [layers[n][field] if n in layers and not layers[n].get("removed")
                      else 0 for n in names]
            ax.bar(x + (i - (len(networks) - 1) / 2) * width, values, width, label=label)
        ax.set_ylabel(title, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(x, names, rotation=45, ha="right", fontsize=7)
    axes[0].legend(fontsize=7, ncol=min(len(networks), 4))
    return save(fig, path, dpi=110)


def architecture_rows(networks: Mapping[str, Layers]) -> list[list[str]]:
    """The chart as table rows: layer, then ``k/d/rf/c`` per network."""
    names = [layer["name"] for layer in next(iter(networks.values()))]
    rows = []
    for name in names:
        cells = [name]
        for layers in networks.values():
            layer = next((item for item in layers if item["name"] == name), None)
            cells.append("-" if layer is None else "removed" if layer.get("removed") else
                         f"k{layer['kernel_size']} d{layer['dilation']} "
                         f"rf{layer['receptive_field']} c{layer['out_channels']}")
        rows.append(cells)
    return rows
