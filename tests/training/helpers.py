"""Tiny end-to-end runs for the Lightning tests."""

from __future__ import annotations

from pathlib import Path

import lightning as L

from pit_lightning.data import ChoralesDataModule
from pit_lightning.seeds import ResTCN
from pit_lightning.training import PITModule, default_phases


def tiny_module(**kwargs) -> PITModule:
    seed = ResTCN(levels=2, channels=8, kernel_size=3, dropout=0.0)
    return PITModule(seed, input_shape=[88, 24], lr=3e-3, nas_lr=0.1, **kwargs)


def tiny_data(cache: str) -> ChoralesDataModule:
    return ChoralesDataModule(batch_size=4, limit=12, cache_dir=cache)


def phases(warmup: int = 1, search: int = 2, finetune: int = 2, strength: float = 1e-2,
           dilation_epochs: int = 0, dilation_steps: int | None = 0):
    return default_phases(
        warmup={"max_epochs": warmup},
        search={"max_epochs": search, "patience": None, "min_epochs": 0, "strength": strength,
                "dilation_epochs": dilation_epochs, "dilation_steps": dilation_steps},
        finetune={"max_epochs": finetune, "patience": None},
    )


def trainer(root, callbacks, **kwargs) -> L.Trainer:
    return L.Trainer(
        default_root_dir=str(root), callbacks=callbacks,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
        **{"max_epochs": 50, "enable_checkpointing": False, "logger": False, **kwargs},
    )


CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def smoke_args(tmp_path: Path, cache: str) -> list[str]:
    """The smoke config, writing into ``tmp_path`` and reading the shared chorale cache."""
    return [
        "--config", str(CONFIGS / "smoke.yaml"),
        f"--trainer.default_root_dir={tmp_path}",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        f"--data.init_args.cache_dir={cache}",
        "--trainer.enable_progress_bar=false",
    ]
