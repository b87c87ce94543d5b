"""Pareto tables and plots: task metric against cost, with the seed marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd


def pareto_front(table: pd.DataFrame, cost: str, metric: str, higher_is_better: bool = False
                 ) -> pd.Series:
    """Boolean column: rows no other row beats in both ``cost`` and ``metric``."""
    sign = -1.0 if higher_is_better else 1.0
    costs, scores = table[cost].to_numpy(), sign * table[metric].to_numpy()
    dominated = [
        any((costs[j] <= costs[i] and scores[j] <= scores[i])
            and (costs[j] < costs[i] or scores[j] < scores[i]) for j in range(len(table)))
        for i in range(len(table))
    ]
    return pd.Series([not d for d in dominated], index=table.index)


def plot_pareto(
    table: pd.DataFrame,
    path: str | Path,
    metric: str,
    costs: Sequence[str] = ("params", "macs"),
    label: str = "kind",
    higher_is_better: bool = False,
) -> Path:
    """One panel per cost; the rows whose ``label`` is ``"seed"`` get a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    costs = [c for c in costs if c in table.columns and table[c].notna().any()]
    fig, axes = plt.subplots(1, len(costs), figsize=(5.5 * len(costs), 4.2), squeeze=False)
    for ax, cost in zip(axes[0], costs, strict=True):
        for kind, rows in table.groupby(label, sort=False):
            seed = kind == "seed"
            ax.scatter(rows[cost], rows[metric], marker="*" if seed else "o",
                       s=180 if seed else 40, label=str(kind), zorder=3)
        searched = table[table[label] != "seed"]
        if len(searched):
            front = searched[pareto_front(searched, cost, metric, higher_is_better)]
            front = front.sort_values(cost)
            ax.step(front[cost], front[metric], where="post", alpha=0.5, color="grey")
        ax.set_xscale("log")
        ax.set_xlabel(cost)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
