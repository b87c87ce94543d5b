"""What a run leaves behind: the architecture as JSON and the exported network."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only
from torch import nn

from ..cost import LayerArch
from .module import PITModule

ARCH_FILE = "arch.json"
NETWORK_FILE = "network.pt"
BEST_CHECKPOINT = "best.ckpt"


def _layers_record(arch: list[LayerArch]) -> dict[str, Any]:
    layers = [layer.to_dict() for layer in arch]
    return {
        "params": sum(layer["params"] for layer in layers),
        "macs": sum(layer["macs"] for layer in layers),
        "layers": layers,
    }


def architecture_record(module: PITModule) -> dict[str, Any]:
    """The searchable layers as found (and as in the seed), with their totals."""
    return {
        "phase": module.phase,
        "plain": bool(module.hparams.get("plain", False)),
        **_layers_record(module.architecture()),
        "seed": _layers_record(module.seed_arch),
    }


def record_test(run_dir: str | os.PathLike, metrics: dict[str, float]) -> None:
    """Add a test's metrics to the run's ``arch.json``."""
    path = Path(run_dir) / ARCH_FILE
    record = json.loads(path.read_text())
    record["test"] = {name: float(value) for name, value in metrics.items()}
    path.write_text(json.dumps(record, indent=2) + "\n")


def save_network(network: nn.Module, path: str | os.PathLike) -> Path:
    """Write a plain exported network; :func:`load_network` reads it back."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(network, tmp)
    os.replace(tmp, path)
    return path


def load_network(path: str | os.PathLike, map_location: str | torch.device = "cpu", *,
                 trust: bool = False) -> nn.Module:
    """Load an exported network in one call; needs torch only, not the PIT wrapper.

    The file holds a pickled ``torch.fx.GraphModule`` made of ``torch.nn`` layers, and
    unpickling runs code from the file: say ``trust=True`` for files you made or trust.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no exported network at {path}")
    if not trust:
        raise PermissionError(
            f"{path} is a pickled network and loading it runs code from the file; "
            "call load_network(..., trust=True) for a file you made or trust"
        )
    network = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(network, nn.Module):
        raise ValueError(f"{path} does not hold a network (found {type(network).__name__})")
    return network.eval()


class SaveExported(Callback):
    """At the end of fit, write ``arch.json``, ``network.pt`` and ``best.ckpt`` to the
    run directory.

    The phases restore the weights of the best monitored epoch before fit ends, so the
    module then holds the best network: ``best.ckpt`` is that state (Lightning's own
    last checkpoint was written before the restore), and ``arch.json`` names it.
    """

    def __init__(self, dirpath: str | None = None) -> None:
        self.dirpath = dirpath

    def run_dir(self, trainer: L.Trainer) -> Path:
        return Path(self.dirpath or trainer.log_dir or trainer.default_root_dir)

    def on_fit_end(self, trainer: L.Trainer, pl_module: PITModule) -> None:
        out = self.run_dir(trainer)
        # Every rank: checkpointing synchronises the processes.
        trainer.save_checkpoint(out / BEST_CHECKPOINT, weights_only=False)
        self._write(out, pl_module)

    @rank_zero_only
    def _write(self, out: Path, pl_module: PITModule) -> None:
        out.mkdir(parents=True, exist_ok=True)
        record = {**architecture_record(pl_module), "checkpoint": BEST_CHECKPOINT}
        (out / ARCH_FILE).write_text(json.dumps(record, indent=2) + "\n")
        save_network(pl_module.exported_copy().cpu(), out / NETWORK_FILE)
        rank_zero_info(
            f"PIT run artifacts in {out}: {ARCH_FILE} ({record['params']} params, "
            f"{record['macs']} MACs in searchable layers), {NETWORK_FILE}, {BEST_CHECKPOINT}"
        )
