"""HardwareInTheLoop: the search charges what a board measures, and the run ends measured.

Before the search the callback makes sure the latency table covers every geometry the
search can reach (profiling what is missing, resumably) and, with ``regularize`` set,
replaces the module's costs by the table's latency or energy. During the search it logs
the predicted latency and energy of the current architecture each epoch, and every
``deploy_every_n_epochs`` deploys the candidate in int8 and logs its measured latency
beside the prediction. When fit ends it deploys the fine-tuned network and logs measured
latency, energy and the prediction error; ``hardware.json`` in the run directory keeps
them all. The measuring itself is :class:`~pit_lightning.hardware.service.BoardService`.

Only global rank 0 talks to the board; other ranks wait for the table and read it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor

from hw_profiler.errors import DeployError

from ..training.module import PITModule, log_to_loggers
from .service import BoardService, calibration_inputs

HARDWARE_FILE = "hardware.json"


class HardwareInTheLoop(Callback):
    """Measured-latency search and measured results on a board.

    Args:
        board: a board profile name or path (``hw-profiler info --board``).
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
        self.service = BoardService(board, table, channel_step, url, repeats)
        self.regularize = regularize
        self.deploy_every_n_epochs = deploy_every_n_epochs
        self.calib_batches = calib_batches
        self.history: list[dict[str, Any]] = []
        self.final: dict[str, Any] | None = None
        self._epoch_in_search = False
        self._prediction: tuple[Any, dict[str, float]] | None = None

    def calibration(self, trainer: L.Trainer, module: PITModule) -> Tensor:
        """Training inputs at the length the table was measured for (``input_shape``)."""
        loader = trainer.datamodule.train_dataloader()
        inputs = (module.task.split_batch(batch)[0] for batch in loader)
        return calibration_inputs(inputs, int(module.hparams.input_shape[-1]),
                                  self.calib_batches)

    def _predict(self, module: PITModule) -> dict[str, float]:
        """The table's prediction for the current architecture. Most search epochs end
        on the architecture of the epoch before: one export and lowering per
        architecture, not per epoch (the prediction depends on the geometry alone)."""
        pit = module.pit
        key = (tuple(pit.arch()), tuple(pit.add_arch()))
        if self._prediction is None or self._prediction[0] != key:
            predicted = self.service.predict(module.exported_copy(), module.hparams.input_shape)
            self._prediction = (key, predicted)
        return dict(self._prediction[1])

    def _measure(self, trainer: L.Trainer, module: PITModule) -> dict[str, Any]:
        return self.service.measure(module.exported_copy(), self.calibration(trainer, module))

    def _start_search(self, trainer: L.Trainer, module: PITModule) -> None:
        """Profile what the search can reach (rank 0), then every rank reads the table.

        The board stays up for the whole search: each new architecture's exact cost
        may need a geometry off the table's channel grid, measured on demand, and
        starting and stopping the board for each cost about 0.7 s, a quarter of a small
        search's time. It stops when the search does, or on an error.
        """
        pit = module.pit
        spaces = pit.search_space()
        if trainer.is_global_zero:
            self.service.profile(spaces, pit.search, pit.residual_adds())
        trainer.strategy.barrier("pit_latency_table")
        costs = self.service.load_costs(spaces, pit.search, measure=trainer.is_global_zero)
        if self.regularize is not None:
            pit.set_costs({self.regularize: costs[self.regularize]})
            rank_zero_info(f"PIT search regularizes measured {self.regularize} "
                           f"({len(costs[self.regularize].table)} table entries from "
                           f"{self.service.table_path})")
            predicted = self._predict(module) if trainer.is_global_zero else None
            self._share_cost_outside(trainer, module, predicted)

    def _share_cost_outside(self, trainer: L.Trainer, module: PITModule,
                            predicted: dict[str, float] | None) -> None:
        """Give every rank what the board spends outside the searchable layers.

        The table's per-layer costs cover the searchable convs; the residual adds and
        copies of the exported network (predicted from the same table) are the rest,
        which a target and ``val/objective`` charge too. ``predicted`` is rank 0's.
        """
        if self.regularize is None:
            return
        outside = None
        if predicted is not None:
            name = self.regularize
            outside = {name: predicted[name] - module.pit.exact_costs()[name]}
        module.cost_outside = trainer.strategy.broadcast(outside, src=0)

    # -- hooks -----------------------------------------------------------------------

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: PITModule) -> None:
        self._epoch_in_search = pl_module.phase == "search"
        if not self._epoch_in_search:
            self.service.close()  # the search is over (or not begun): free the board
        elif not self.service.costs:
            self._start_search(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: PITModule) -> None:
        if not self._epoch_in_search:
            return
        predicted = self._predict(pl_module) if trainer.is_global_zero else None
        self._share_cost_outside(trainer, pl_module, predicted)
        if predicted is None:
            return
        record: dict[str, Any] = {"epoch": trainer.current_epoch,
                                  "predicted_latency_s": predicted["latency"],
                                  "predicted_energy_j": predicted["energy"]}
        every = self.deploy_every_n_epochs
        if every and (len(self.history) + 1) % every == 0:
            record.update(self._measure(trainer, pl_module))
        self.history.append(record)
        log_to_loggers(trainer,
                       {f"hw/{k}": v for k, v in record.items() if isinstance(v, float)},
                       trainer.global_step)

    def on_fit_end(self, trainer: L.Trainer, pl_module: PITModule) -> None:
        if not trainer.is_global_zero or pl_module.phase != "finetune":
            return
        # Resumed in fine-tune, the costs have no search space, but exact lookups work.
        try:
            self.final = final = self._measure(trainer, pl_module)
        except DeployError as error:
            # The trained network is still saved; only its measurement is missing.
            rank_zero_warn(f"PIT on the board: the network was not measured: {error}")
            return
        log_to_loggers(trainer,
                       {f"hw/final_{k}": v for k, v in final.items() if isinstance(v, float)},
                       trainer.global_step)
        rank_zero_info(
            f"PIT on the board: measured {final['measured_latency_s'] * 1e3:.4f} ms "
            f"({final['measured_energy_j'] * 1e6:.2f} uJ, {final['energy_source']}), "
            f"predicted {final['predicted_latency_s'] * 1e3:.4f} ms, "
            f"error {final['latency_error']:.1%}"
        )
        out = Path(trainer.log_dir or trainer.default_root_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / HARDWARE_FILE).write_text(json.dumps(
            {"board": self.service.board, "table": str(self.service.table_path),
             "final": final, "search": self.history}, indent=2) + "\n")

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule,
                     exception: BaseException) -> None:
        self.service.close()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.service.close()

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "final": self.final}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))
        self.final = state_dict.get("final")
