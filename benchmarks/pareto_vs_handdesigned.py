"""PIT against the hand-designed TCN family, on your own task, measured on a board.

For each training seed this trains:

- the hand-designed family: the config's seed network rebuilt with the classic schedule
  (``kernel_size`` taps at dilations ``--dilations``, d = 2**i by default) at every
  width of ``--widths``, trained plainly (no PIT) with PIT's budget: the max epochs
  and the early-stopping patience of warmup + search + fine-tune added up, best
  validation weights restored;
- the undilated seed (one warmup, shared by every search of that training seed);
- a PIT sweep of ``--strengths`` for each cost of ``--costs`` (``params``, ``macs``,
  ``latency``: the board's measured latency table);
- with ``--targets``, one latency-target search per value ("at most 8 ms on the
  board", ``--target-strength`` above it): the direct answer to "what can PIT do at
  the hand-designed network's latency", where a strength sweep lands where it lands.
  The summary names the latencies of the hand-designed points no PIT point dominates,
  to run again with ``--targets`` (a resumed run trains only the new searches).

Every network is deployed in int8 on the board (``--board``, the emulated STM32 by
default) and measured. Writes ``runs.csv`` (one row per network and seed),
``summary.csv`` (mean and std over seeds), ``pareto.png`` (test metric against
measured latency in ms and against params; hand-designed points and the PIT front
drawn apart) and ``configs/`` (the config of each variant, to rerun one training with
``pit-lightning fit`` or ``sweep``), and prints the summary with which hand-designed
points a PIT point dominates.

    python benchmarks/pareto_vs_handdesigned.py --config configs/arrowhead.yaml \\
        --out runs/compare/arrowhead [--seeds 0 1 2] [--widths 8 16 32 64] \\
        [--strengths 0.1 0.3 1 2 4] [--costs params latency] [--targets 8 25] \\
        [--jobs 2] [-- config overrides]

Run again with the same ``--out`` to resume: trainings already in ``runs.csv`` (and
seeds whose ``warmup.ckpt`` exists) are skipped; an interrupted training runs again
whole (so the trainings write no per-epoch checkpoints unless the config asks).
``--jobs N`` trains N networks at a time in worker processes (each with its share of
the CPU threads): small TCNs leave cores idle inside one process. The board's latency
table is profiled once, while the warmups train and before any training that reads it
starts, so that the workers only read it.
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import importlib
import inspect
import multiprocessing
import os
import signal
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml

from pit_lightning.cli import PITCLI, split_passthrough
from pit_lightning.hardware.service import BoardService, calibration_inputs
from pit_lightning.report import pareto_front
from pit_lightning.report.axes import pyplot, save, set_scale
from pit_lightning.sweep import hardware_callback, measured_fields, search_from, warm_up
from pit_lightning.training import FineTunePhase, SearchPhase, WarmupPhase
from pit_lightning.training.artifacts import load_network

HARDWARE = "pit_lightning.hardware.HardwareInTheLoop"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def board_variant(base: dict, cost: str, table: Path, board: str | None) -> dict:
    """``base`` regularizing ``cost``, with a board that measures every network.

    ``cost`` is ``params``, ``macs`` or ``latency``; the board's latency table is
    shared by all variants (profiled once, extended on demand).
    """
    config = copy.deepcopy(base)
    callbacks = [cb for cb in config.get("trainer", {}).get("callbacks") or []
                 if cb.get("class_path") != HARDWARE]
    hardware = next((cb for cb in config.get("trainer", {}).get("callbacks") or []
                     if cb.get("class_path") == HARDWARE), {"class_path": HARDWARE})
    hardware = copy.deepcopy(hardware)
    if board is not None:
        args = hardware.setdefault("init_args", {})
        args["board"] = board
        args["table"] = str(table)
        args["regularize"] = "latency" if cost == "latency" else None
        args["deploy_every_n_epochs"] = None
        callbacks.append(hardware)
    elif cost == "latency":
        raise ValueError("the latency cost needs a board (--board)")
    config.setdefault("trainer", {})["callbacks"] = callbacks
    if not any(cb.get("class_path", "").endswith("ModelCheckpoint") for cb in callbacks):
        # A training here is resumed whole (its row is missing), never from its last
        # epoch: Lightning's per-epoch checkpoint was 3-4% of a search's time.
        config["trainer"]["enable_checkpointing"] = False
    config.setdefault("model", {})["cost"] = "params" if cost == "latency" else cost
    return config


def write_config(config: dict, folder: Path, name: str) -> list[str]:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return ["--config", str(path)]


def epoch_budget(config: dict) -> tuple[int, int | None]:
    """Epochs and patience PIT may spend: warmup + search + fine-tune, added up."""
    phases = {"warmup": WarmupPhase, "search": SearchPhase, "finetune": FineTunePhase}
    epochs, patience = 0, 0
    for phase, cls in phases.items():
        # The phases' own defaults, where the config leaves them out.
        signature = inspect.signature(cls).parameters
        max_epochs, wait = signature["max_epochs"].default, signature["patience"].default
        section = config.get(phase) or {}
        epochs += int(section.get("max_epochs") or max_epochs)
        value = section.get("patience", wait)
        patience = None if patience is None or value is None else patience + int(value)
    return epochs, patience


def hand_designed(config: dict, width: int, dilations: list[int]) -> dict:
    """The config's seed as the classic dilated network, trained plainly."""
    config = copy.deepcopy(config)
    seed_args = config["model"]["seed"].setdefault("init_args", {})
    levels = int(seed_args.get("levels", len(dilations)))
    if len(dilations) < levels:
        raise ValueError(f"--dilations gives {len(dilations)} values for {levels} levels")
    seed_args["channels"] = width
    seed_args["dilations"] = dilations[:levels]
    config["model"]["plain"] = True
    # PIT's budget: the phases' epochs and patience added up, best weights restored.
    epochs, patience = epoch_budget(config)
    config["finetune"] = {**(config.get("finetune") or {}),
                          "max_epochs": epochs, "patience": patience}
    return config


class Plan:
    """The benchmark's trainings: per training seed a warmup, the PIT searches from its
    checkpoint and the hand-designed family, run in order or by a pool of workers."""

    def __init__(self, base: dict, args: argparse.Namespace, extra: list[str],
                 configs: Path, table: Path, board: str | None, out: Path) -> None:
        self.args, self.extra, self.out, self.board = args, extra, out, board
        self.variants = {cost: write_config(board_variant(base, cost, table, board),
                                            configs, cost) for cost in args.costs}
        self.hand = {width: write_config(hand_designed(board_variant(
            base, "params", table, board), width, args.dilations), configs, f"hand{width}")
            for width in args.widths}
        self.done: set[tuple[str, str, int]] = set()
        self.failed: list[str] = []
        self.start = time.perf_counter()

    def seeded(self, seed: int) -> list[str]:
        return [f"--seed_everything={seed}", *self.extra]

    def checkpoint(self, seed: int) -> Path:
        return self.out / f"seed{seed}" / "warmup.ckpt"

    def warmup(self, seed: int) -> tuple[Any, ...]:
        return (warm_up_row, [*self.variants[self.args.costs[0]], *self.seeded(seed)],
                self.out / f"seed{seed}", ("seed", "undilated", seed))

    def searches(self, seed: int) -> list[tuple[Any, ...]]:
        return self.todo([
            *(self.search(seed, cost, [], strength, f"lambda_{strength:g}",
                          (f"pit-{cost}", f"{strength:g}"))
              for cost in self.args.costs for strength in self.args.strengths),
            *(self.search(seed, "latency", [f"--search.target={ms / 1e3:g}"],
                          self.args.target_strength, f"target_{ms:g}ms",
                          ("pit-target", f"{ms:g}ms"))
              for ms in self.args.targets)])

    def search(self, seed: int, cost: str, overrides: list[str], strength: float, name: str,
               labels: tuple[str, str]) -> tuple[Any, ...]:
        """One PIT search of ``cost`` from the seed's warmup, into ``seed<N>/<cost>/<name>``."""
        return (search_row, [*self.variants[cost], *self.seeded(seed), *overrides],
                self.checkpoint(seed), strength, self.out / f"seed{seed}" / cost / name,
                (*labels, seed))

    def hands(self, seed: int) -> list[tuple[Any, ...]]:
        return self.todo([
            (search_row, [*self.hand[width], *self.seeded(seed)], None, None,
             self.out / f"seed{seed}" / f"hand_{width}", ("hand", f"c{width}", seed))
            for width in self.args.widths])

    def todo(self, units: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The units whose rows an earlier, interrupted run did not record."""
        return [unit for unit in units if unit[-1] not in self.done]

    def report(self, result: tuple[Any, ...], finished: int, total: int) -> bool:
        """Print one training's end; False when it failed."""
        labels = " ".join(map(str, result[1:]))
        if result[0] is None:
            self.failed.append(labels)
        print(f"{finished}/{total} trainings {'FAILED' if result[0] is None else 'done'} "
              f"({labels}) after {time.perf_counter() - self.start:.0f} s", flush=True)
        return result[0] is not None

    def run(self, jobs: int, done: set[tuple[str, str, int]]):
        """Yield ``(row, kind, setting, seed)`` as each training ends; trainings in
        ``done`` (rows of an earlier, interrupted run) and warmups whose checkpoint
        exists are skipped, and a failed one is reported and left out (a run with the
        same ``--out`` tries it again)."""
        self.done = done
        cold = [seed for seed in self.args.seeds if not self.checkpoint(seed).exists()]
        if jobs == 1:
            units = [unit for seed in self.args.seeds for unit in
                     [*([self.warmup(seed)] if seed in cold else []),
                      *self.searches(seed), *self.hands(seed)]]
            for finished, unit in enumerate(units, 1):
                result = run_unit(*unit)
                if self.report(result, finished, len(units)):
                    yield result
        else:
            yield from self._parallel(jobs, cold)
        if self.failed:
            print(f"{len(self.failed)} trainings failed (tracebacks above): "
                  f"{'; '.join(self.failed)}. Run again with --out {self.out} to retry them.",
                  flush=True)

    def _parallel(self, jobs: int, cold: list[int]):
        """Warmups and hand-designed networks first; a seed's searches once its warmup
        checkpoint exists. The latency table is profiled while the warmups train (they
        do not read it), before anything that reads or extends it starts."""
        threads = max(1, (os.cpu_count() or 1) // jobs)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, context, initializer=init_worker,
                                 initargs=(threads,)) as pool:
            pending: dict[Future, int | None] = {}  # the seed a warmup unlocks, or None
            for seed in cold:
                pending[pool.submit(run_unit, *self.warmup(seed))] = seed
            if self.board is not None and "latency" in self.args.costs:
                self.profile_table()
            for seed in self.args.seeds:
                if seed not in cold:
                    pending.update((pool.submit(run_unit, *unit), None)
                                   for unit in self.searches(seed))
            for seed in self.args.seeds:
                pending.update((pool.submit(run_unit, *unit), None)
                               for unit in self.hands(seed))
            total = len(pending) + sum(len(self.searches(seed)) for seed in cold)
            finished = 0
            while pending:
                done_now, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done_now:
                    unlocks = pending.pop(future)
                    result = future.result()
                    finished += 1
                    if not self.report(result, finished, total):
                        continue  # a failed warmup: its searches cannot run
                    yield result
                    if unlocks is not None:
                        pending.update((pool.submit(run_unit, *unit), None)
                                       for unit in self.searches(unlocks))

    def profile_table(self) -> None:
        """Measure the latency search space once, so that parallel searches only read
        the table (each would otherwise profile it and overwrite the others' rows)."""
        cli = PITCLI(args=[*self.variants["latency"], *self.seeded(self.args.seeds[0]),
                           f"--trainer.default_root_dir={self.out}", "--trainer.logger=false"],
                     run=False)
        hardware = hardware_callback(cli.trainer)
        try:
            hardware.service.profile(cli.model.pit.search_space(), cli.model.pit.search,
                                     cli.model.pit.residual_adds())
        finally:
            hardware.service.close()


def init_worker(threads: int) -> None:
    """A worker's share of the CPU threads; on Linux it also dies with the benchmark, so
    killing the benchmark does not leave trainings running in orphaned workers. SIGKILL:
    Lightning's trainer catches SIGTERM and would finish its step first."""
    torch.set_num_threads(threads)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def setting_label(value: Any) -> str:
    """A row's setting as written ("0.3", "c8", "undilated"): a CSV of PIT rows alone
    reads its settings back as numbers, "4.0" for "4"."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def warm_up_row(config_args: list[str], out: Path) -> dict[str, Any]:
    return warm_up(config_args, out)[0]


def search_row(config_args: list[str], checkpoint: Path | None, strength: float | None,
               run_dir: Path) -> dict[str, Any]:
    return search_from(config_args, checkpoint, strength, run_dir)[0]


def run_unit(train: Any, *args: Any) -> tuple[dict[str, Any] | None, str, str, int]:
    """One training (top-level, so a worker process can run it): its row, or None when it
    failed (traceback printed), and its labels."""
    *inputs, labels = args
    try:
        return (train(*inputs), *labels)
    except Exception:  # one failed training must not cost the others their rows
        traceback.print_exc()
        return (None, *labels)


def summarize(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean and std over training seeds of each network kind and setting."""
    columns = [c for c in ("params", "macs", metric, "latency_ms", "predicted_ms")
               if c in runs]
    grouped = runs.groupby(["kind", "setting"], sort=False)[columns]
    mean, std = grouped.mean(), grouped.std(ddof=0)
    table = mean.join(std[[metric] + (["latency_ms"] if "latency_ms" in std else [])],
                      rsuffix="_std")
    table["seeds"] = grouped.size()
    return table.reset_index()


def dominators(summary: pd.DataFrame, metric: str, higher_is_better: bool, tolerance: float,
               cost: str) -> dict[str, list[str]]:
    """For each hand-designed point (by setting), the PIT points that dominate it within
    ``tolerance``: no higher ``cost``, no worse ``metric``."""
    sign = 1.0 if higher_is_better else -1.0
    pit = summary[summary["kind"].str.startswith("pit")]
    return {
        hand["setting"]: [f"{r.kind} {r.setting}" for r in pit[
            (pit[cost] <= hand[cost]) & (sign * (pit[metric] - hand[metric]) >= -tolerance)
        ].itertuples()]
        for _, hand in summary[summary["kind"] == "hand"].iterrows()
    }


def untargeted_misses(summary: pd.DataFrame, beaten: dict[str, list[str]],
                      targets: list[float]) -> list[float]:
    """The measured latencies (ms) of the hand-designed points that no PIT point
    dominates (``beaten`` from :func:`dominators` on latency) and that no target of
    ``targets`` already searched at (within 1%)."""
    latency = summary[summary["kind"] == "hand"].set_index("setting")["latency_ms"]
    return [float(latency[setting]) for setting, names in beaten.items()
            if not names and not any(abs(ms - latency[setting]) <= 0.01 * latency[setting]
                                     for ms in targets)]


def plot(summary: pd.DataFrame, path: Path, metric: str, higher_is_better: bool) -> None:
    plt = pyplot()
    costs = [c for c in ("latency_ms", "params") if c in summary and summary[c].notna().any()]
    fig, axes = plt.subplots(1, len(costs), figsize=(6 * len(costs), 4.5), squeeze=False)
    styles = {"hand": dict(marker="s", color="tab:red", label="hand-designed (d = 2^i)"),
              "seed": dict(marker="*", s=200, color="black", label="undilated seed")}
    for ax, cost in zip(axes[0], costs, strict=True):
        for kind, rows in summary.groupby("kind", sort=False):
            style = styles.get(kind, dict(marker="o", label=f"PIT ({kind[4:] or kind})"))
            ax.scatter(rows[cost], rows[metric], zorder=3, **{"s": 50, **style})
            if kind == "hand":
                for r in rows.itertuples():
                    ax.annotate(str(r.setting), (getattr(r, cost), getattr(r, metric)),
                                fontsize=7, xytext=(3, 3), textcoords="offset points")
        pit = summary[summary["kind"].str.startswith("pit")]
        if len(pit):
            front = pit[pareto_front(pit, cost, metric, higher_is_better)].sort_values(cost)
            ax.step(front[cost], front[metric], where="post", color="tab:blue", alpha=0.6,
                    label="PIT front")
        set_scale(ax, summary[cost].to_numpy(dtype=float))
        ax.set_xlabel("measured latency (ms)" if cost == "latency_ms" else cost)
        ax.set_ylabel(f"test {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save(fig, path, dpi=120)


def target_strength(args: argparse.Namespace) -> float:
    """``--target-strength``, else the sweep's largest strength: the most pressure the
    sweep's own range holds sensible for the task: above a target every gate the cost
    outweighs moves by Adam's step at once, so a stronger pressure shuts more of them
    together (JapaneseVowels at 0.62 ms: accuracy 0.961 at 8, 0.979 at 4)."""
    if args.target_strength is not None:
        return args.target_strength
    return max(args.strengths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="Arguments after `--` go to the config parser.")
    parser.add_argument("--config", required=True, help="task config (Lightning CLI YAML)")
    parser.add_argument("--out", default="runs/compare")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--dilations", type=int, nargs="+", default=[2**i for i in range(12)],
                        help="per-level dilations of the hand-designed family (first `levels`)")
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.1, 0.3, 1.0, 2.0, 4.0],
                        help="normalised PIT strengths (x the seed's cost)")
    parser.add_argument("--costs", nargs="+", default=["params", "latency"],
                        choices=["params", "macs", "latency"])
    parser.add_argument("--targets", type=float, nargs="+", default=[], metavar="MS",
                        help="also search with these latency targets (ms on the board); "
                             "needs the latency cost")
    parser.add_argument("--target-strength", type=float, default=None,
                        help="normalised strength above a latency target (default: the "
                             "largest of --strengths); above it the search is a latency "
                             "sweep at this strength. A search still over its target "
                             "when its epochs run out shuts the gates nearest their "
                             "threshold until it meets it. Past the sweep's range it "
                             "costs accuracy (JapaneseVowels at 0.62 ms: 8 gave 0.961, "
                             "4 gave 0.979)")
    parser.add_argument("--board", default="qemu_stm32f4",
                        help="board profile to measure on; 'none' to skip the board")
    parser.add_argument("--from-runs", nargs="+", default=None, metavar="RUNS_CSV",
                        help="train nothing: summarize runs.csv files of earlier runs "
                             "(e.g. seeds run in parallel into separate folders)")
    parser.add_argument("--remeasure", action="store_true",
                        help="train nothing: deploy every network of the runs (--from-runs, "
                             "else OUT/runs.csv) on --board again, e.g. after a firmware "
                             "update, and replace their measured and predicted latency")
    parser.add_argument("--jobs", type=int, default=1,
                        help="networks trained at a time, in worker processes")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="metric slack for dominance (default: one test sample for "
                             "accuracy, 0.2%% of the value otherwise)")
    argv, extra = split_passthrough(sys.argv[1:])
    args = parser.parse_args(argv)
    args.target_strength = target_strength(args)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    board = None if args.board == "none" else args.board
    if args.targets and (board is None or "latency" not in args.costs):
        parser.error("--targets needs the latency cost (--costs ... latency) and a board")
    if any(ms <= 0 for ms in args.targets):
        parser.error(f"--targets must be positive milliseconds, got {args.targets}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    configs = out / "configs"  # each variant's config, kept to rerun one training
    configs.mkdir(exist_ok=True)
    base = yaml.safe_load(Path(args.config).read_text())
    table = out / "latency_table.csv"
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    task = task_of(base)
    if (out / "runs.csv").exists() and not args.from_runs and not args.remeasure:
        rows = pd.read_csv(out / "runs.csv").to_dict("records")  # resume: keep what ran
        print(f"resuming: {len(rows)} trainings already in {out / 'runs.csv'}")

    def record(row: dict[str, Any], kind: str, setting: str, seed: int) -> None:
        rows.append({**row, "kind": kind, "setting": setting, "seed": seed})
        pd.DataFrame(rows).to_csv(out / "runs.csv", index=False)  # nothing lost on a crash

    plan = Plan(base, args, extra, configs, table, board, out)
    if args.remeasure and not args.from_runs:
        args.from_runs = [out / "runs.csv"]
    if not args.from_runs:
        done = {(row["kind"], setting_label(row["setting"]), int(row["seed"])) for row in rows}
        for row, kind, setting, seed in plan.run(args.jobs, done):
            record(row, kind, setting, seed)

    if args.from_runs:
        rows = pd.concat([pd.read_csv(path) for path in args.from_runs]).to_dict("records")
        if args.remeasure:
            if board is None:
                parser.error("--remeasure needs a board")
            remeasure(rows, base, board, table)
    runs = pd.DataFrame(rows)
    runs["setting"] = [setting_label(value) for value in runs["setting"]]
    metric = task.metric_name
    if "latency_s" in runs:
        runs["latency_ms"] = runs["latency_s"] * 1e3
        runs["predicted_ms"] = runs["predicted_latency_s"] * 1e3
    runs.to_csv(out / "runs.csv", index=False)
    summary = summarize(runs, metric)
    summary.to_csv(out / "summary.csv", index=False)
    plot(summary, out / "pareto.png", metric, task.higher_is_better)
    if args.tolerance is not None:
        tolerance = args.tolerance
    elif metric == "accuracy":
        tolerance = 1.0 / test_size(base)
    else:
        tolerance = 0.002 * float(runs[metric].abs().median())
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    verdicts = {cost: dominators(summary, metric, task.higher_is_better, tolerance, cost)
                for cost in ("latency_ms", "params") if cost in summary}
    for cost, beaten in verdicts.items():
        print(f"\nhand-designed points dominated on ({cost}, test {metric}), "
              f"tolerance {tolerance:.4g}:")
        for setting, names in beaten.items():
            verdict = f"dominated by {', '.join(names)}" if names else "NOT dominated"
            print(f"  hand {setting:>10}: {verdict}")
    missed = untargeted_misses(summary, verdicts.get("latency_ms", {}), args.targets)
    if missed and "latency" in args.costs:
        # A strength lands where it lands; a target searches at that latency.
        print("\nto search at the latency of the points not dominated, run again with "
              f"the same --out and --targets {' '.join(f'{ms:.3g}' for ms in missed)} "
              "(trainings already done are kept)")
    dilated = runs[runs["kind"].str.startswith("pit") & runs["arch"].str.contains(
        r"d(?:[2-9]|\d\d)", regex=True)]
    print(f"\nPIT networks with a dilation > 1: {len(dilated)} of "
          f"{int(runs['kind'].str.startswith('pit').sum())}")
    print(f"wall time {time.perf_counter() - start:.0f} s; results in {out}")


def remeasure(rows: list[dict[str, Any]], config: dict, board: str, table: Path) -> None:
    """Deploy each row's exported network on ``board`` again and replace its board
    columns; the test metrics stay (they do not depend on the board)."""
    datamodule = datamodule_of(config)
    datamodule.setup("fit")
    inputs = (datamodule.task.split_batch(batch)[0] for batch in datamodule.train_dataloader())
    calib = calibration_inputs(inputs, int(config["model"]["input_shape"][-1]))
    service = BoardService(board, str(table))  # its first measure sets a stale table aside
    for i, row in enumerate(rows, 1):
        network = load_network(Path(row["run_dir"]) / "network.pt", trust=True)  # our own
        row.update(measured_fields(service.measure(network, calib)))
        print(f"remeasured {i}/{len(rows)}: {row['kind']} {row['setting']} seed {row['seed']}: "
              f"{row['latency_s'] * 1e3:.2f} ms", flush=True)


def datamodule_of(config: dict) -> Any:
    data = config["data"]
    module_name, _, class_name = data["class_path"].rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)(
        **(data.get("init_args") or {}))


def task_of(config: dict) -> Any:
    return datamodule_of(config).task


def test_size(config: dict) -> int:
    """Samples in the config's test split: one of them is 1/size of accuracy."""
    datamodule = datamodule_of(config)
    datamodule.setup("test")
    return len(datamodule.test_dataloader().dataset)


if __name__ == "__main__":
    main()
