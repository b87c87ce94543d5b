"""Size-, MACs- and latency-regularized PIT from one seed and one warmup, measured on a board.

For each regularizer a strength sweep runs search + fine-tune from the same warmup
checkpoint; every network (and the undilated seed) is deployed in int8 on the board
(the emulated STM32 by default) and measured. Prints the Pareto table (test NLL against
measured latency), the prediction fidelity |predicted - measured| / measured of every
network, and which latency-aware networks no size-aware network dominates. Writes
``pareto.csv`` and ``pareto.png`` under ``--out``.

    python benchmarks/latency_aware_sweep.py [--out runs/latency_sweep] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from pareto_vs_handdesigned import HARDWARE, board_variant

from pit_lightning.sweep import run_sweep, write_table

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"

# Strengths per regularizer (in units of the seed's cost), spanning light to heavy
# pruning of the demo seed (about 27k parameters, 1.1M MACs, 12 ms on the emulated board).
STRENGTHS = {
    "params": [0.3, 1.0, 2.0],
    "macs": [0.3, 1.0, 2.0],
    "latency": [0.3, 1.0, 2.0],
}


def variant(base: dict, cost: str, out: Path) -> Path:
    """The demo config regularizing ``cost``; the board measures in every variant."""
    board = next(cb["init_args"]["board"] for cb in base["trainer"]["callbacks"]
                 if cb["class_path"] == HARDWARE)
    config = board_variant(base, cost, out / "latency_table.csv", board)
    path = Path(tempfile.mkdtemp()) / f"{cost}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def dominated_by(row: pd.Series, others: pd.DataFrame, metric: str) -> bool:
    return bool(((others["latency_s"] <= row["latency_s"]) & (others[metric] <= row[metric])
                 & ((others["latency_s"] < row["latency_s"]) | (others[metric] < row[metric]))
                 ).any())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/latency_sweep")
    parser.add_argument("--quick", action="store_true", help="one strength per regularizer")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = yaml.safe_load(CONFIG.read_text())
    start = time.perf_counter()
    tables = []
    checkpoint = None
    for cost, strengths in STRENGTHS.items():
        strengths = strengths[1:2] if args.quick else strengths
        config = variant(base, cost, out)
        table = run_sweep(["--config", str(config)], strengths, out / cost,
                          warmup_checkpoint=checkpoint, kind=cost)
        checkpoint = checkpoint or out / cost / "warmup.ckpt"
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    metric = "nll"
    write_table(table.to_dict("records"), out, metric)

    shown = table.assign(latency_ms=table["latency_s"] * 1e3,
                         predicted_ms=table["predicted_latency_s"] * 1e3,
                         error_pct=table["latency_error"] * 100)
    print(shown[["kind", "lambda", "params", "macs", "latency_ms", "predicted_ms", "error_pct",
                 metric]].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nprediction error: max {table['latency_error'].max():.2%}, "
          f"mean {table['latency_error'].mean():.2%} over {len(table)} networks")
    latency = table[table["kind"] == "latency"]
    size_aware = table[table["kind"].isin(["params", "macs"])]
    free = [bool(not dominated_by(row, size_aware, metric)) for _, row in latency.iterrows()]
    print(f"latency-aware networks not dominated by a size-aware one (measured latency, "
          f"{metric}): {sum(free)} of {len(free)}")
    for _, row in table[table["kind"] != "seed"].iterrows():
        print(f"  {row['kind']:>7} lambda={row['lambda']:<8g} {row['arch']}")
    print(f"\n{time.perf_counter() - start:.0f} s; table and plot in {out}")


if __name__ == "__main__":
    main()
