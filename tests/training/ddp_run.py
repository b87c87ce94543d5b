"""Two-process CPU DDP run (gloo); each epoch, every rank reports its architecture.

Run by test_ddp.py as a script, because Lightning's "ddp" strategy starts the other
rank by re-running the command line. Rank 0 writes one JSON line per epoch with what
every rank holds.
"""

from __future__ import annotations

import json
import sys
import warnings

import lightning as L
import torch
import torch.distributed as dist
from lightning.pytorch.callbacks import Callback

from pit_lightning.data import ChoralesDataModule
from pit_lightning.nas import PIT
from pit_lightning.seeds import ResTCN
from pit_lightning.training import PITModule, default_phases


class ReportArchitecture(Callback):
    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        arch = [(a.name, a.in_channels, a.out_channels, a.kernel_size, a.dilation)
                for a in pl_module.architecture()]
        if isinstance(pl_module.net, PIT):
            cost = float(pl_module.net.cost.detach())
        else:
            cost = float(sum(p.numel() for p in pl_module.net.parameters()))
        mine = {"rank": trainer.global_rank, "phase": pl_module.phase, "arch": arch,
                "cost": cost}
        everyone = [None] * trainer.world_size
        dist.all_gather_object(everyone, mine)
        if trainer.global_rank == 0:
            with open(self.path, "a") as out:
                out.write(json.dumps({"epoch": trainer.current_epoch, "ranks": everyone}) + "\n")


def main() -> None:
    report, cache = sys.argv[1], sys.argv[2]
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    L.seed_everything(0)
    seed = ResTCN(levels=2, channels=8, kernel_size=3, dropout=0.0)
    module = PITModule(seed, input_shape=[88, 24], lr=3e-3, nas_lr=0.1)
    phases = default_phases(
        warmup={"max_epochs": 1},
        search={"max_epochs": 3, "patience": None, "min_epochs": 0, "strength": 1e-2},
        finetune={"max_epochs": 2, "patience": None},
    )
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=20,
        callbacks=[*phases, ReportArchitecture(report)], logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(module, ChoralesDataModule(batch_size=2, limit=12, cache_dir=cache))


if __name__ == "__main__":
    main()
