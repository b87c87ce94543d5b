"""A strength sweep: one warmup, then search + fine-tune for each lambda.

Every run resumes from the same warmup checkpoint, so the points differ only in the
regularizer. The result is ``pareto.csv`` (one row per network, the warmed-up
undilated seed first) and ``report.md`` with its figures (``pareto.png`` among them).
When the config has a
:class:`~pit_lightning.hardware.HardwareInTheLoop` callback, every network is also
deployed on the board and the table gains measured latency and energy.

    pit-lightning sweep --config configs/jsb_chorales.yaml \\
        --strengths 1e-7 1e-6 1e-5 --out runs/sweep [-- extra CLI overrides]
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn

from hw_profiler.errors import DeployError

from .cli import PITCLI, split_passthrough
from .hardware import HardwareInTheLoop
from .hardware.callback import HARDWARE_FILE
from .report import network_name, read_run, summary_text, write_report
from .tasks.base import Task
from .training import PITModule, SearchPhase, architecture_record

WARMUP_CHECKPOINT = "warmup.ckpt"
TABLE_FILE = "pareto.csv"


class StopAfterPhase(Callback):
    """Stops fit as soon as the module has left ``phase``."""

    def __init__(self, phase: str) -> None:
        self.phase = phase

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: PITModule) -> None:
        if pl_module.phase != self.phase:
            trainer.should_stop = True


def hardware_callback(trainer: L.Trainer) -> HardwareInTheLoop | None:
    return next((cb for cb in trainer.callbacks if isinstance(cb, HardwareInTheLoop)), None)


def _row(kind: str, strength: float | None, module: PITModule, test: dict[str, float],
         run_dir: Path, measured: dict[str, Any] | None) -> dict[str, Any]:
    record = architecture_record(module)
    metric = module.task.metric_name
    row = {
        "kind": kind,
        "lambda": strength,
        "params": record["params"],
        "macs": record["macs"],
        metric: test[f"test/{metric}"],
        "test_loss": test["test/loss"],
    }
    if measured is not None:
        row.update(measured_fields(measured))
    return {**row, "arch": _arch_summary(module), "run_dir": str(run_dir)}


def measured_fields(measured: dict[str, Any]) -> dict[str, Any]:
    """A table row's board columns from :meth:`BoardService.measure`'s result."""
    return {
        "latency_s": measured["measured_latency_s"],
        "predicted_latency_s": measured["predicted_latency_s"],
        "latency_error": measured["latency_error"],
        "energy_j": measured["measured_energy_j"],
        "energy_source": measured["energy_source"],
    }


def _arch_summary(module: PITModule) -> str:
    return " ".join(f"{a.name}:removed" if a.removed
                    else f"{a.name}:k{a.kernel_size}d{a.dilation}c{a.out_channels}"
                    for a in module.architecture())


def _run_args(run_dir: Path) -> list[str]:
    """Everything a run writes goes to its own directory, metrics as CSV."""
    return [f"--trainer.default_root_dir={run_dir}", f"--artifacts.dirpath={run_dir}",
            "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
            f"--trainer.logger.init_args.save_dir={run_dir}",
            "--trainer.logger.init_args.name=logs"]


def warm_up(config_args: Sequence[str], out: Path) -> tuple[dict[str, Any], Task]:
    """Train the warmup once, save its checkpoint and measure the undilated seed."""
    warmup_dir = out / "warmup"
    cli = PITCLI(args=[*config_args, *_run_args(warmup_dir)], run=False)
    cli.trainer.callbacks.append(StopAfterPhase("warmup"))
    cli.trainer.fit(cli.model, cli.datamodule)
    cli.trainer.save_checkpoint(out / WARMUP_CHECKPOINT)
    test = cli.trainer.test(cli.model, cli.datamodule, verbose=False)[0]
    measured = None
    hardware = hardware_callback(cli.trainer)
    if hardware is not None:
        calib = hardware.calibration(cli.trainer, cli.model)
        try:
            measured = hardware.service.measure(cli.model.exported_copy(), calib)
        except DeployError as error:
            rank_zero_warn(f"the undilated seed was not measured on the board: {error}")
        else:
            (warmup_dir / HARDWARE_FILE).write_text(json.dumps(
                {"board": hardware.service.board, "final": measured}, indent=2) + "\n")
    return _row("seed", None, cli.model, test, warmup_dir, measured), cli.model.task


def search_from(config_args: Sequence[str], checkpoint: Path | None, strength: float | None,
                run_dir: Path, kind: str = "pit") -> tuple[dict[str, Any], Task]:
    """Search and fine-tune from a warmup checkpoint; test and measure the result.

    Without a checkpoint the config's fit runs from the start (a plain baseline's).
    """
    overrides = [] if strength is None else [f"--search.strength={strength}"]
    cli = PITCLI(args=[*config_args, *overrides, *_run_args(run_dir)], run=False)
    with warnings.catch_warnings():
        # Each search writes its checkpoints into its own run folder, not the warmup's.
        warnings.filterwarnings("ignore", message=r"The dirpath has changed from")
        # The sweep's own warmup checkpoint: the phases' state in it is not weights only.
        cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=checkpoint,
                        weights_only=False if checkpoint is not None else None)
    test = cli.trainer.test(cli.model, cli.datamodule, verbose=False)[0]
    hardware = hardware_callback(cli.trainer)
    measured = hardware.final if hardware is not None else None
    if strength is None:
        strength = next(cb for cb in cli.trainer.callbacks
                        if isinstance(cb, SearchPhase)).regularizer.strength
    return _row(kind, strength, cli.model, test, run_dir, measured), cli.model.task


def write_table(rows: list[dict[str, Any]], out: Path, metric: str,
                higher_is_better: bool = False, title: str = "PIT strength sweep"
                ) -> pd.DataFrame:
    """``pareto.csv`` and the run report (figures read from each run's folder)."""
    table = pd.DataFrame(rows)
    table.attrs["metric"] = metric
    table.to_csv(out / TABLE_FILE, index=False)
    networks, latencies = {}, {}
    for row in rows:
        name = network_name(row)
        arch, hardware = read_run(row["run_dir"])
        if arch is not None:
            networks[name] = arch["layers"]
        layers = ((hardware or {}).get("final") or {}).get("layers")
        if layers:
            latencies[name] = layers
    table.attrs["report"] = write_report(out, table, metric, networks, latencies,
                                         higher_is_better, title)
    return table


def run_sweep(
    config_args: Sequence[str],
    strengths: Sequence[float | None],
    out: str | Path,
    warmup_checkpoint: str | Path | None = None,
    kind: str = "pit",
) -> pd.DataFrame:
    """Run the sweep and write ``pareto.csv`` and ``pareto.png`` under ``out``.

    ``None`` in ``strengths`` means the config's own strength. With
    ``warmup_checkpoint`` the warmup (and the seed row) is taken as already done.
    """
    if not strengths:
        raise ValueError("give at least one strength (--strengths)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    if warmup_checkpoint is None:
        row, _ = warm_up(config_args, out)
        rows.append(row)
        warmup_checkpoint = out / WARMUP_CHECKPOINT
    for strength in strengths:
        label = "config" if strength is None else f"{strength:g}"
        row, task = search_from(config_args, Path(warmup_checkpoint), strength,
                                out / f"lambda_{label}", kind)
        rows.append(row)
        # Written after every point: an interrupted sweep keeps what it measured.
        pd.DataFrame(rows).to_csv(out / TABLE_FILE, index=False)
    return write_table(rows, out, task.metric_name, task.higher_is_better)


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
    parser.add_argument("--warmup-checkpoint", default=None,
                        help="start every search from this warmup checkpoint (no seed row)")
    argv, extra = split_passthrough(argv or [])
    args = parser.parse_args(argv)
    config_args = [arg for path in args.config for arg in ("--config", path)] + extra
    table = run_sweep(config_args, args.strengths, args.out, args.warmup_checkpoint)
    print(summary_text(table, table.attrs["metric"]))
    print(f"table: {Path(args.out) / TABLE_FILE}\nreport: {table.attrs['report']}")
