"""A progress bar that says which PIT phase is running."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar


class PhaseProgressBar(TQDMProgressBar):
    """``search 12`` instead of ``Epoch 12``: phase changes are visible at a glance."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        phase = getattr(pl_module, "phase", None)
        if phase is not None and self.train_progress_bar is not None:
            self.train_progress_bar.set_description(f"{phase} {trainer.current_epoch}")
