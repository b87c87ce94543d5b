"""``pit-lightning``: LightningCLI subcommands (fit, validate, test) plus ``sweep``,
``geometries``, ``profile`` and ``deploy``.

    pit-lightning fit --config configs/jsb_chorales.yaml
    pit-lightning sweep --config configs/jsb_chorales.yaml --strengths 1e-7 1e-6 1e-5
    pit-lightning geometries --seed TEMPONet --out temponet.txt
    pit-lightning profile --seed TEMPONet --board qemu_stm32f4 --table temponet.csv
    pit-lightning deploy --seed TEMPONet --table temponet_layers.csv

The phases and run artifacts are top-level config sections (``warmup``, ``search``,
``finetune``, ``artifacts``), so a YAML file describes a whole PIT run.
"""

from __future__ import annotations

import sys
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import lightning as L
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger

from hw_profiler.errors import HwProfilerError

from .report import report_run, summary_text
from .training import (
    FineTunePhase,
    PhaseProgressBar,
    PITModule,
    SaveExported,
    SearchPhase,
    WarmupPhase,
)
from .training.artifacts import ARCH_FILE, BEST_CHECKPOINT, NETWORK_FILE, record_test


class PITCLI(LightningCLI):
    """LightningCLI for :class:`PITModule` with the phase callbacks always present."""

    def __init__(self, args: Sequence[str] | None = None, run: bool = True, **kwargs: Any):
        # Lightning's own pytree helper trips torch's deprecation of LeafSpec on every
        # run (fit, sweep, demo): nothing a user can act on.
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
        super().__init__(
            PITModule,
            L.LightningDataModule,
            subclass_mode_data=True,
            args=list(args) if args is not None else None,
            run=run,
            save_config_kwargs={"overwrite": True},
            **kwargs,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(WarmupPhase, "warmup")
        parser.add_lightning_class_args(SearchPhase, "search")
        parser.add_lightning_class_args(FineTunePhase, "finetune")
        parser.add_lightning_class_args(SaveExported, "artifacts")
        parser.add_argument("--no-test", action="store_true",
                            help="fit only: do not test the best checkpoint when fit ends")

    def _finished_run(self) -> Path | None:
        """The run folder of the checkpoint that ``test``/``validate`` was given."""
        if self.subcommand not in ("test", "validate"):
            return None
        ckpt = self.config[self.subcommand].get("ckpt_path")
        if ckpt and (Path(ckpt).parent / ARCH_FILE).is_file():
            return Path(ckpt).parent
        return None

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        if args is None:
            super().parse_arguments(parser, args)
            return
        # Given ``args`` are the whole command line (the sweep builds them): hide the
        # process's own argv so LightningCLI does not warn that both were given.
        with mock.patch.object(sys, "argv", sys.argv[:1]):
            super().parse_arguments(parser, args)

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        config = self.config_init.get(self.subcommand, self.config_init) if self.subcommand \
            else self.config_init
        trainer = config.get("trainer", {})
        if trainer.get("enable_progress_bar") is not False and "callbacks" not in kwargs:
            kwargs["callbacks"] = [*(trainer.get("callbacks") or []), PhaseProgressBar()]
        run = self._finished_run()
        if run is not None:
            # A finished run's checkpoint: its test logs go inside that run's folder.
            kwargs["logger"] = CSVLogger(save_dir=run, name=self.subcommand)
        return super().instantiate_trainer(**kwargs)

    def after_fit(self) -> None:
        """Test the best checkpoint, then print the summary and where everything is."""
        if self.config["fit"].get("no_test"):
            return
        artifacts = next(cb for cb in self.trainer.callbacks if isinstance(cb, SaveExported))
        run = artifacts.run_dir(self.trainer)
        metrics = self.trainer.test(self.model, datamodule=self.datamodule,
                                    ckpt_path=str(run / BEST_CHECKPOINT), weights_only=False,
                                    verbose=False)
        if self.trainer.is_global_zero:
            self._report(run, metrics[0])

    def after_test(self) -> None:
        run = self._finished_run()
        if run is not None and self.trainer.is_global_zero:
            self._report(run, self.trainer.callback_metrics)

    def _report(self, run: Path, metrics: Any) -> None:
        record_test(run, {k: v for k, v in metrics.items() if k.startswith("test/")})
        task = self.model.task
        table = report_run(run, task.metric_name, task.higher_is_better)
        print(summary_text(table, task.metric_name))
        print(f"run folder: {run}\n  report: {table.attrs['report']}"
              f"\n  network: {run / NETWORK_FILE}"
              f"\n  best checkpoint: {run / BEST_CHECKPOINT}\n  architecture: {run / ARCH_FILE}")


def split_passthrough(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``argv`` at ``--``: own arguments, then those for the config parser."""
    argv = list(argv)
    if "--" not in argv:
        return argv, []
    split = argv.index("--")
    return argv[:split], argv[split + 1:]


def _subcommands() -> dict[str, Callable[[Sequence[str]], None]]:
    """The commands beside LightningCLI's, imported when called."""
    from .hardware.cli import deploy_main, geometries_main, profile_main
    from .sweep import main as sweep_main

    return {"sweep": sweep_main, "geometries": geometries_main, "profile": profile_main,
            "deploy": deploy_main}


def _option_values(argv: Sequence[str], *names: str) -> list[str]:
    """The values given to ``names`` as ``--name value`` or ``--name=value``."""
    values = []
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name in names:
            if eq:
                values.append(value)
            elif i + 1 < len(argv):
                values.append(argv[i + 1])
    return values


def check_inputs(argv: Sequence[str]) -> None:
    """Refuse unreadable config files and checkpoints with one line naming the file,
    before LightningCLI parses them (it would name a YAML file ``<unicode string>`` and
    fail deep inside ``fit`` on a truncated checkpoint)."""
    import yaml

    for config in _option_values(argv, "--config", "-c"):
        path = Path(config)
        if not path.is_file():
            raise CLIError(f"--config {config}: no such file")
        try:
            yaml.safe_load(path.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            raise CLIError(f"--config {config}: cannot read: {exc}") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise CLIError(f"{config}{where}: malformed YAML: {problem}") from exc
    for ckpt in _option_values(argv, "--ckpt_path"):
        if ckpt in ("last", "best", "hpc", "registry") or ckpt.startswith("registry:"):
            continue  # names Lightning resolves itself
        if not Path(ckpt).is_file():
            raise CLIError(f"--ckpt_path {ckpt}: no such file")
        if not zipfile.is_zipfile(ckpt):
            raise CLIError(f"--ckpt_path {ckpt}: truncated or not a checkpoint file")


class CLIError(Exception):
    """A bad argument or input file; reported as one line with exit status 2."""


def main(argv: Sequence[str] | None = None) -> None:
    given = list(sys.argv[1:] if argv is None else argv)
    command = given[0] if given else ""
    try:
        if command in ("sweep", "geometries", "profile", "deploy"):
            _subcommands()[command](given[1:])
            return
        check_inputs(given)
    except (CLIError, ValueError, OSError, HwProfilerError) as exc:
        print(f"pit-lightning {command}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    # None lets LightningCLI read sys.argv itself.
    PITCLI(args=None if argv is None else given)


if __name__ == "__main__":
    main()
