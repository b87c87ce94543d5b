"""The main job: latency-aware PIT on a board, end to end (``make demo``).

Builds the firmware and starts the board (the emulated STM32 by default), profiles the
latency table, trains the warmup, deploys the undilated seed, runs the search
(regularizing measured latency) and fine-tune on the Bach chorales, deploys the found
network, then prints seed versus found network (params, MACs, measured latency at the
board clock, energy, test NLL) and writes ``pareto.csv`` and the run report
(``report.md``: Pareto plot, architecture chart, per-layer latency, summary).

    python -m pit_lightning.demo [--config configs/demo.yaml] [--out runs/demo]
    (run from a checkout: the config is the repository's configs/demo.yaml)
        [-- extra config overrides, e.g. --trainer.callbacks.init_args.board=...]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .cli import split_passthrough
from .report import summary_text
from .sweep import run_sweep

DEFAULT_CONFIG = Path("configs") / "demo.yaml"


def summarize(table: pd.DataFrame, metric: str) -> str:
    seed, found = table.iloc[0], table.iloc[-1]
    return "\n".join([
        summary_text(table, metric),
        "",
        f"found network: {seed['params'] / found['params']:.1f}x fewer parameters, "
        f"{seed['latency_s'] / found['latency_s']:.2f}x lower measured latency, "
        f"test {metric} {found[metric]:.3f} vs {seed[metric]:.3f}",
        f"energy is {found['energy_source']}; the report shows each layer's architecture "
        "and latency",
    ])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pit_lightning.demo",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG))
    parser.add_argument("--out", default="runs/demo")
    argv, extra = split_passthrough(argv or [])
    args = parser.parse_args(argv)
    if not Path(args.config).is_file():
        parser.error(f"no config {args.config}: run from the repository root or give --config")
    start = time.perf_counter()
    table = run_sweep(["--config", args.config, *extra], strengths=[None], out=args.out)
    if "latency_s" not in table:
        raise SystemExit("the demo config needs a HardwareInTheLoop callback (no board results)")
    print()
    print(summarize(table, metric=table.attrs["metric"]))
    print(f"\nreport: {table.attrs['report']}\nresults in {args.out} (pareto.csv, per-run "
          f"arch.json, network.pt, hardware.json); {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
