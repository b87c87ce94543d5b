"""A strength sweep: one warmup, then search + fine-tune for each lambda.

Every run resumes from the same warmup checkpoint, so the points differ only in the
regularizer. The result is ``pareto.csv`` (one row per network, the warmed-up
undilated seed first) and ``pareto.png``.

    pit-lightning sweep --config configs/jsb_chorales.yaml \\
        --strengths 1e-7 1e-6 1e-5 --out runs/sweep [-- extra CLI overrides]
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
from lightning.pytorch.callbacks import Callback

from .cli import PITCLI
from .pareto import plot_pareto
from .training import PITModule, architecture_record

log = logging.getLogger(__name__)


class StopAfterPhase(Callback):
    """Stops fit as soon as the module has left ``phase``."""

    def __init__(self, phase: str) -> None:
        self.phase = phase

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: PITModule) -> None:
        if pl_module.phase != self.phase:
            trainer.should_stop = True


def _row(kind: str, strength: float | None, module: PITModule, test: dict[str, float],
         run_dir: Path) -> dict[str, Any]:
    record = architecture_record(module)
    metric = module.task.metric_name
    return {
        "kind": kind,
        "lambda": strength,
        "params": record["params"],
        "macs": record["macs"],
        metric: test[f"test/{metric}"],
        "test_loss": test["test/loss"],
        "run_dir": str(run_dir),
    }


def run_sweep(
    config_args: Sequence[str],
    strengths: Sequence[float],
    out: str | Path,
) -> pd.DataFrame:
    """Run the sweep and write ``pareto.csv`` and ``pareto.png`` under ``out``."""
    if not strengths:
        raise ValueError("give at least one strength (--strengths)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    warmup_dir = out / "warmup"
    cli = PITCLI(
        args=[*config_args, f"--trainer.default_root_dir={warmup_dir}",
              f"--artifacts.dirpath={warmup_dir}"],
        run=False,
    )
    cli.trainer.callbacks.append(StopAfterPhase("warmup"))
    cli.trainer.fit(cli.model, cli.datamodule)
    checkpoint = out / "warmup.ckpt"
    cli.trainer.save_checkpoint(checkpoint)
    test = cli.trainer.test(cli.model, cli.datamodule, verbose=False)[0]
    rows = [_row("seed", None, cli.model, test, warmup_dir)]
    metric = cli.model.task.metric_name
    higher_is_better = cli.model.task.higher_is_better

    table_path = out / "pareto.csv"
    for strength in strengths:
        run_dir = out / f"lambda_{strength:g}"
        cli = PITCLI(
            args=[*config_args, f"--search.strength={strength}",
                  f"--trainer.default_root_dir={run_dir}", f"--artifacts.dirpath={run_dir}"],
            run=False,
        )
        cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=checkpoint)
        test = cli.trainer.test(cli.model, cli.datamodule, verbose=False)[0]
        rows.append(_row("pit", strength, cli.model, test, run_dir))
        # Written after every point: an interrupted sweep keeps what it measured.
        pd.DataFrame(rows).to_csv(table_path, index=False)
    table = pd.DataFrame(rows)
    table.to_csv(table_path, index=False)
    plot_pareto(table, out / "pareto.png", metric=metric, higher_is_better=higher_is_better)
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="pit-lightning sweep", description=__doc__.splitlines()[0],
        epilog="Arguments after `--` go to the config parser, e.g. -- --trainer.max_epochs=50",
    )
    parser.add_argument("--config", action="append", required=True,
                        help="Lightning CLI YAML config (repeatable)")
    parser.add_argument("--strengths", type=float, nargs="+", required=True,
                        help="regularizer strengths (lambda) to search with")
    parser.add_argument("--out", default="runs/sweep", help="output directory")
    argv = list(argv or [])
    extra: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, extra = argv[:split], argv[split + 1:]
    args = parser.parse_args(argv)
    config_args = [arg for path in args.config for arg in ("--config", path)] + extra
    table = run_sweep(config_args, args.strengths, args.out)
    print(table.drop(columns=["run_dir"]).to_string(index=False))
    print(f"Pareto table and plot in {args.out}")
