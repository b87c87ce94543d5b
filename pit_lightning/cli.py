"""``pit-lightning``: LightningCLI subcommands (fit, validate, test) plus ``sweep``,
``geometries`` and ``profile``.

    pit-lightning fit --config configs/jsb_chorales.yaml
    pit-lightning sweep --config configs/jsb_chorales.yaml --strengths 1e-7 1e-6 1e-5
    pit-lightning geometries --seed TEMPONet --out temponet.txt
    pit-lightning profile --seed TEMPONet --board qemu_stm32f4 --table temponet.csv

The phases and run artifacts are top-level config sections (``warmup``, ``search``,
``finetune``, ``artifacts``), so a YAML file describes a whole PIT run.
"""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from hw_profiler.errors import HwProfilerError

from .training import (
    FineTunePhase,
    PhaseProgressBar,
    PITModule,
    SaveExported,
    SearchPhase,
    WarmupPhase,
)


class PITCLI(LightningCLI):
    """LightningCLI for :class:`PITModule` with the phase callbacks always present."""

    def __init__(self, args: Sequence[str] | None = None, run: bool = True, **kwargs: Any):
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

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        config = self.config_init.get(self.subcommand, self.config_init) if self.subcommand \
            else self.config_init
        trainer = config.get("trainer", {})
        if trainer.get("enable_progress_bar") is not False and "callbacks" not in kwargs:
            kwargs["callbacks"] = [*(trainer.get("callbacks") or []), PhaseProgressBar()]
        return super().instantiate_trainer(**kwargs)


def split_passthrough(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``argv`` at ``--``: own arguments, then those for the config parser."""
    argv = list(argv)
    if "--" not in argv:
        return argv, []
    split = argv.index("--")
    return argv[:split], argv[split + 1:]


def _subcommands() -> dict[str, Callable[[Sequence[str]], None]]:
    """The commands beside LightningCLI's, imported when called."""
    from .hardware.cli import geometries_main, profile_main
    from .sweep import main as sweep_main

    return {"sweep": sweep_main, "geometries": geometries_main, "profile": profile_main}


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
        if command in ("sweep", "geometries", "profile"):
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
