"""GateTrajectories: every mask parameter of every layer, epoch by epoch, in one CSV.

Why a search ended where it did (a dilation never chosen, a receptive field trimmed
tap by tap) is visible only in how the gates moved. The file is long-format, one row
per (epoch, layer, gate), so it loads straight into pandas for plotting:

    epoch, phase, layer, mask, index, value

``mask`` is ``gamma`` (index i gates dilation 2**i), ``theta`` (the receptive-field
keep value of tap ``index``, samples before the newest), ``alpha_mean`` and
``alpha_kept`` (mean |alpha| and channels kept). A gate is kept above 0.5.
"""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_only

from ..nas import PIT
from .module import PITModule

GATES_FILE = "gates.csv"
COLUMNS = ("epoch", "phase", "layer", "mask", "index", "value")


def gate_rows(pit: PIT) -> list[tuple[str, str, int, float]]:
    """(layer, mask, index, value) of every gate, in graph order."""
    rows: list[tuple[str, str, int, float]] = []
    for name, layer in pit.layers():
        if layer.dilation_mask is not None:
            for i, gamma in enumerate(layer.dilation_mask.gamma.detach().abs().tolist(), 1):
                rows.append((name, "gamma", i, gamma))
        if layer.rf_mask is not None:
            theta = layer.rf_mask.soft().detach().tolist()
            rows.extend((name, "theta", j, value) for j, value in enumerate(theta) if j)
        if layer.out_mask is not None:
            alpha = layer.out_mask.alpha.detach().abs()
            rows.append((name, "alpha_mean", 0, float(alpha.mean())))
            rows.append((name, "alpha_kept", 0, float(layer.out_mask.keep().sum())))
    return rows


class GateTrajectories(Callback):
    """Append the gates to ``gates.csv`` in the run directory after every PIT epoch.

    Args:
        dirpath: where to write; default the trainer's log directory.
    """

    def __init__(self, dirpath: str | None = None) -> None:
        self.dirpath = dirpath
        self._phase = ""

    def path(self, trainer: L.Trainer) -> Path:
        return Path(self.dirpath or trainer.log_dir or trainer.default_root_dir) / GATES_FILE

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: PITModule) -> None:
        # The phase callbacks may hand over at this epoch's end: label it now.
        self._phase = pl_module.phase

    @rank_zero_only
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: PITModule) -> None:
        # Fine-tune holds the masks still: nothing to trace.
        if not isinstance(pl_module.net, PIT) or self._phase not in ("warmup", "search"):
            return
        path = self.path(trainer)
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        with path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(COLUMNS)
            for row in gate_rows(pl_module.net):
                writer.writerow((trainer.current_epoch, self._phase, *row))
