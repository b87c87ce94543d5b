"""HardwareInTheLoop: the search charges what a board measures, and the run ends measured.

Before the search the callback opens the board (the emulated STM32 by default), makes
sure the latency table covers every geometry the search can reach (profiling what is
missing, resumably) and, with ``regularize`` set, replaces the module's costs by the
table's latency or energy. During the search it logs the predicted latency and energy
of the current architecture each epoch, and every ``deploy_every_n_epochs`` deploys the
candidate in int8 and logs its measured latency beside the prediction. When fit ends
it deploys the fine-tuned network and logs measured latency, energy and the prediction
error; ``hardware.json`` in the run directory keeps them all.

Only global rank 0 talks to the board; other ranks wait for the table and read it.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn

from ..cost.table import TableCost
from .module import PITModule

HARDWARE_FILE = "hardware.json"


class HardwareInTheLoop(Callback):
    """Measured-latency search and measured results on a board.

    Args:
        board: a board profile name or path (``configs/boards``).
        table: the latency table file (resumed when it exists).
        channel_step: channel grid of the table.
        regularize: ``"latency"``, ``"energy"`` or None (only measure and log).
        deploy_every_n_epochs: deploy the search's candidate this often (None: never).
        url: talk to an already running board at this pyserial URL (no flashing).
        repeats: timed runs per table entry (median stored).
        calib_batches: training batches used to calibrate int8 quantization.
    """

    def __init__(
        self,
        board: str = "qemu_stm32f4",
        table: str = "latency_table.csv",
        channel_step: int = 8,
        regularize: str | None = "latency",
        deploy_every_n_epochs: int | None = None,
        url: str | None = None,
        repeats: int = 3,
        calib_batches: int = 2,
    ) -> None:
        if regularize not in ("latency", "energy", None):
            raise ValueError(f"regularize must be 'latency', 'energy' or None, got {regularize!r}")
        if deploy_every_n_epochs is not None and deploy_every_n_epochs < 1:
            raise ValueError("deploy_every_n_epochs must be >= 1 or None")
        self.board = board
        self.table_path = table
        self.channel_step = channel_step
        self.regularize = regularize
        self.deploy_every_n_epochs = deploy_every_n_epochs
        self.url = url
        self.repeats = repeats
        self.calib_batches = calib_batches
        self.history: list[dict[str, Any]] = []
        self.final: dict[str, Any] | None = None
        self._stack: contextlib.ExitStack | None = None
        self._session = None
        self._table = None
        self._costs: dict[str, TableCost] = {}
        self._epoch_in_search = False

    # -- board and table -------------------------------------------------------------

    def _open_board(self):
        if self._session is None:
            from hw_profiler import api

            self._stack = contextlib.ExitStack()
            self._session = self._stack.enter_context(api.open_board(self.board, url=self.url))
        return self._session

    def _measure(self, geometries: list) -> None:
        from hw_profiler.table import TableProfiler

        session = self._open_board()
        TableProfiler(session, self._table, session.meter, repeats=self.repeats,
                      progress=True).run(geometries)

    def prepare(self, trainer: L.Trainer, module: PITModule) -> None:
        """Profile what the search can reach (rank 0), then every rank reads the table."""
        from hw_profiler import api
        from hw_profiler.table import LatencyTable

        pit = module.pit
        spaces = pit.search_space()
        if trainer.is_global_zero:
            session = self._open_board()
            api.profile(spaces, table_path=self.table_path, search=pit.search,
                        channel_step=self.channel_step, repeats=self.repeats, session=session)
        trainer.strategy.barrier("pit_latency_table")
        self._table = LatencyTable.load(self.table_path)
        measure = self._measure if trainer.is_global_zero else None
        self._costs = {
            name: TableCost(self._table, spaces, pit.search, self.channel_step, column,
                            measure=measure)
            for name, column in (("latency", "latency_s"), ("energy", "energy_j"))
        }
        if self.regularize is not None:
            pit.set_costs({self.regularize: self._costs[self.regularize]})
            rank_zero_info(f"PIT search regularizes measured {self.regularize} "
                           f"({len(self._table)} table entries from {self.table_path})")

    def predict(self, module: PITModule, network: nn.Module | None = None) -> dict[str, float]:
        """End-to-end latency and energy of the current network from the table.

        Every board layer counts (FBNet-style sum over operators keyed by their full
        shape), not only the searchable convs; missing entries are measured.
        """
        from hw_profiler.deploy import network_geometries

        network = module.exported_copy() if network is None else network
        example = torch.zeros(1, *module.hparams.input_shape)
        geometries = [g for _, g in network_geometries(network.cpu().eval(), example)]
        return {name: sum(cost.entry(g) for g in geometries)
                for name, cost in self._costs.items()}

    def _calibration(self, trainer: L.Trainer, module: PITModule) -> Tensor:
        """Training inputs at the length the table was measured for (``input_shape``)."""
        length = int(module.hparams.input_shape[-1])
        loader = trainer.datamodule.train_dataloader()
        batches = []
        for i, batch in enumerate(loader):
            if i >= self.calib_batches:
                break
            x = module.task.split_batch(batch)[0][..., :length]
            batches.append(torch.nn.functional.pad(x, (0, length - x.shape[-1])))
        return torch.cat(batches).cpu()

    def measure(self, trainer: L.Trainer, module: PITModule, network: nn.Module) -> dict:
        """Deploy ``network`` (the export of ``module``) and compare with the table."""
        from hw_profiler import api

        calib = self._calibration(trainer, module)
        result = api.deploy(network.cpu().eval(), calib, session=self._open_board())
        predicted = self.predict(module, network)
        return {
            "measured_latency_s": result.latency_s,
            "measured_energy_j": result.energy_j,
            "energy_source": result.energy_source,
            "predicted_latency_s": predicted["latency"],
            "predicted_energy_j": predicted["energy"],
            "latency_error": abs(predicted["latency"] - result.latency_s) / result.latency_s,
            "image_bytes": result.image_bytes,
        }

    # -- hooks -----------------------------------------------------------------------

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: PITModule) -> None:
        self._epoch_in_search = pl_module.phase == "search"
        if self._epoch_in_search and not self._costs:
            self.prepare(trainer, pl_module)
            # An idle emulated board still spins a host core: stop it between uses.
            self.close()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: PITModule) -> None:
        if not self._epoch_in_search or not trainer.is_global_zero:
            return
        predicted = self.predict(pl_module)
        record: dict[str, Any] = {"epoch": trainer.current_epoch,
                                  "predicted_latency_s": predicted["latency"],
                                  "predicted_energy_j": predicted["energy"]}
        every = self.deploy_every_n_epochs
        if every and (len(self.history) + 1) % every == 0:
            record.update(self.measure(trainer, pl_module, pl_module.exported_copy()))
        self.close()
        self.history.append(record)
        _log(trainer, {f"hw/{k}": v for k, v in record.items() if isinstance(v, float)},
             trainer.global_step)

    def on_fit_end(self, trainer: L.Trainer, pl_module: PITModule) -> None:
        if not trainer.is_global_zero or pl_module.phase != "finetune":
            return
        if not self._costs:
            # Resumed in fine-tune: no search space left, but exact lookups still work.
            from hw_profiler.table import LatencyTable

            self._table = LatencyTable.load(self.table_path)
            self._costs = {name: TableCost(self._table, column=column, measure=self._measure)
                           for name, column in (("latency", "latency_s"),
                                                ("energy", "energy_j"))}
        self.final = self.measure(trainer, pl_module, pl_module.exported_copy())
        self.close()
        _log(trainer, {f"hw/final_{k}": v for k, v in self.final.items()
                       if isinstance(v, float)}, trainer.global_step)
        final = self.final
        rank_zero_info(
            f"PIT on the board: measured {final['measured_latency_s'] * 1e3:.4f} ms "
            f"({final['measured_energy_j'] * 1e6:.2f} uJ, {final['energy_source']}), "
            f"predicted {final['predicted_latency_s'] * 1e3:.4f} ms, "
            f"error {final['latency_error']:.1%}"
        )
        out = Path(trainer.log_dir or trainer.default_root_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / HARDWARE_FILE).write_text(json.dumps(
            {"board": self.board, "table": str(self.table_path), "final": final,
             "search": self.history}, indent=2) + "\n")

    def close(self) -> None:
        """Stop the board (and its emulator); the next use starts it again."""
        if self._stack is not None:
            self._stack.close()
        self._stack, self._session = None, None

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.close()

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "final": self.final}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))
        self.final = state_dict.get("final")


def _log(trainer: L.Trainer, metrics: dict[str, float], step: int) -> None:
    for logger in trainer.loggers:
        logger.log_metrics(metrics, step=step)
