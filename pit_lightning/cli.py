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
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

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


def main(argv: Sequence[str] | None = None) -> None:
    given = list(sys.argv[1:] if argv is None else argv)
    if given and given[0] in ("sweep", "geometries", "profile"):
        _subcommands()[given[0]](given[1:])
        return
    # None lets LightningCLI read sys.argv itself.
    PITCLI(args=None if argv is None else given)


if __name__ == "__main__":
    main()
