"""The run report: one Markdown file and its figures, written into the run folder.

It holds the four views a person needs to judge a search: the Pareto plot (metric
against params, MACs and measured latency), the per-layer architecture of the seed
and of each found network, the per-layer latency on the board (measured against the
table's prediction) and the summary table that the console also prints.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .architecture import architecture_rows, plot_architectures
from .axes import axis_values
from .latency import plot_latency_breakdown
from .pareto import LABELS, plot_pareto, point_label

REPORT_FILE = "report.md"
COSTS = ("params", "macs", "latency_s")


def network_name(row: Mapping[str, Any]) -> str:
    """How a row is called in tables and legends."""
    kind = str(row.get("kind", "network"))
    label = point_label(pd.Series(row))
    base = LABELS.get(kind, kind)
    return f"{base} {label}".strip()


def summary_frame(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The summary in the units people read; columns nothing filled are left out."""
    titles = {"params": "params", "macs": "MACs", "latency_s": "latency ms",
              "predicted_latency_s": "predicted ms", "energy_j": "energy uJ",
              metric: f"test {metric}"}
    shown = {"network": [network_name(row) for _, row in table.iterrows()]}
    for column, title in titles.items():
        if column in table and table[column].notna().any():
            shown[title] = axis_values(table[column], column)[0]
    return pd.DataFrame(shown)


def summary_text(table: pd.DataFrame, metric: str) -> str:
    return summary_frame(table, metric).to_string(index=False, float_format=_number, na_rep="-")


def _number(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if float(value).is_integer() and abs(value) >= 100:
        return f"{int(value)}"
    return f"{value:.3f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return _number(value) if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_") or "network"


def write_report(
    out: str | Path,
    table: pd.DataFrame,
    metric: str,
    networks: Mapping[str, Sequence[Mapping[str, Any]]],
    latencies: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    higher_is_better: bool = False,
    title: str = "PIT run",
) -> Path:
    """Write ``report.md`` and its PNGs into ``out``; return the report's path.

    Args:
        table: one row per network (``kind``, ``lambda`` or ``label``, ``params``,
            ``macs``, ``latency_s``, the metric, ...).
        networks: legend name -> ``arch.json`` layers, the seed first.
        latencies: network name -> per-layer board measurements (``hardware.json``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    better = "higher" if higher_is_better else "lower"
    parts = [f"# {title}", ""]

    parts += ["## Summary", ""]
    frame = summary_frame(table, metric)
    parts += [markdown_table(list(frame.columns), frame.itertuples(index=False)), ""]

    parts += ["## Pareto plot", ""]
    if table[metric].notna().any():
        plot_pareto(table, out / "pareto.png", metric, COSTS, higher_is_better)
        parts += [f"Test {metric} ({better} is better) against each cost; the line joins "
                  "the networks no other network beats in both.", "",
                  "![Pareto plot](pareto.png)", ""]
    else:
        parts += ["No network was tested, so there is no metric to plot.", ""]

    parts += ["## Architecture", ""]
    if networks:
        plot_architectures(networks, out / "architecture.png")
        header = ["layer", *networks]
        parts += ["Per searchable layer: kept taps k, dilation d, receptive field rf, "
                  "output channels c.", "", "![Architecture](architecture.png)", "",
                  markdown_table(header, architecture_rows(networks)), ""]
    else:
        parts += ["No architecture was recorded.", ""]

    parts += ["## Latency on the board", ""]
    if latencies:
        for name, layers in latencies.items():
            png = f"latency_{_slug(name)}.png"
            plot_latency_breakdown(layers, out / png, title=name)
            measured = sum(layer["measured_latency_s"] for layer in layers) * 1e3
            predicted = sum(layer.get("predicted_latency_s") or 0.0 for layer in layers) * 1e3
            parts += [f"### {name}", "",
                      f"Per board layer, adds and pools included: {measured:.3f} ms "
                      f"measured, {predicted:.3f} ms predicted from the latency table.",
                      "", f"![Latency of {name}]({png})", ""]
    else:
        parts += ["No board in this run: add the `HardwareInTheLoop` callback to measure "
                  "each network (see docs/hw_profiler.md).", ""]

    path = out / REPORT_FILE
    path.write_text("\n".join(parts))
    return path


def read_run(run_dir: str | Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A run folder's ``arch.json`` and ``hardware.json`` (either may be missing)."""
    run_dir = Path(run_dir)
    found = {}
    for name in ("arch.json", "hardware.json"):
        path = run_dir / name
        if not path.is_file():
            # In a log folder below the run; a rerun into the same folder adds a newer one.
            found_files = list(run_dir.rglob(name))
            path = max(found_files, key=lambda p: p.stat().st_mtime) if found_files else None
        found[name] = json.loads(path.read_text()) if path is not None else None
    return found["arch.json"], found["hardware.json"]


def report_run(run_dir: str | Path, metric: str, higher_is_better: bool = False
               ) -> pd.DataFrame:
    """The report of one ``fit``: the found network beside its seed, from the run's
    ``arch.json`` (with its test metrics) and ``hardware.json`` when a board measured it.

    Returns the summary rows; ``attrs["report"]`` is the report's path.
    """
    run_dir = Path(run_dir)
    arch, hardware = read_run(run_dir)
    if arch is None:
        raise FileNotFoundError(f"no arch.json in {run_dir}: not a finished pit-lightning run")
    final = (hardware or {}).get("final") or {}
    found = {
        "kind": "network" if arch.get("plain") else "pit",
        "label": "" if arch.get("plain") else "found",
        "params": arch["params"],
        "macs": arch["macs"],
        metric: (arch.get("test") or {}).get(f"test/{metric}", math.nan),
        "latency_s": final.get("measured_latency_s", math.nan),
        "predicted_latency_s": final.get("predicted_latency_s", math.nan),
        "energy_j": final.get("measured_energy_j", math.nan),
    }
    rows, networks = [found], {}
    if not arch.get("plain") and "seed" in arch:
        seed = arch["seed"]
        rows.insert(0, {"kind": "seed", "params": seed["params"], "macs": seed["macs"],
                        metric: math.nan})
        networks["undilated seed"] = seed["layers"]
    networks[network_name(found)] = arch["layers"]
    latencies = {network_name(found): final["layers"]} if final.get("layers") else {}
    table = pd.DataFrame(rows)
    table.attrs["report"] = write_report(run_dir, table, metric, networks, latencies,
                                         higher_is_better, title=f"pit-lightning run {run_dir}")
    return table
