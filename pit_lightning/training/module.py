"""PITModule: trains a seed network under PIT and hands over the exported network."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from ..cost import LayerArch, conv_arch
from ..cost.geometry import SEARCH_OPTIONS
from ..nas import PIT
from ..tasks.base import Task
from .regularizer import Regularizer

PHASES = ("warmup", "search", "finetune")


class PITModule(L.LightningModule):
    """Task loss plus, in the search phase, the PIT regularizer.

    The phase callbacks (:mod:`pit_lightning.training.phases`) move the module through
    ``warmup`` -> ``search`` -> ``finetune``. Fine-tune trains the found architecture
    with its masks frozen, so the parameters (and any DDP wrapper) stay the same for
    the whole fit; when fit ends :attr:`net` becomes the exported plain network.

    Args:
        seed: the undilated seed network.
        input_shape: ``[channels, length]`` of one example; the length sets the MACs.
        task: loss and metric; taken from the datamodule's ``task`` when omitted.
        cost: cost name(s) for the regularizer (``"params"``, ``"macs"``, or a dict).
        search: what to search: ``"dilation"``, ``"rf"``, ``"channels"``.
        exclude: layer names left unsearched.
        cost_view: what the regularizer charges: ``"soft"`` (the expected cost under
            the clamped masks; default), ``"binarized"`` (the current architecture,
            straight-through) or ``"binarized-dilation"`` (binarized dilation masks,
            the rest soft; see :class:`~pit_lightning.nas.PIT`).
        lr, weight_decay: the network weights' optimizer settings.
        nas_lr, nas_weight_decay: the NAS parameters' (no weight decay by default:
            decay would act as a second, unweighted regularizer).
        finetune_lr: learning rate of the fresh fine-tune optimizer (default ``lr``).
        drop_blocks: also search depth: a residual block whose first conv keeps no
            channel is removed; None (default) wherever the seed has such blocks, False
            keeps every block (see :class:`~pit_lightning.nas.PIT`).
        plain: train ``seed`` as it is, without PIT: the run is the fine-tune phase
            alone (its early stopping and best-weights restore). This is how
            hand-designed baselines are trained through the same config and CLI.
    """

    def __init__(
        self,
        seed: nn.Module,
        input_shape: Sequence[int],
        task: Task | None = None,
        cost: str | dict[str, str] = "params",
        search: Sequence[str] = SEARCH_OPTIONS,
        exclude: Sequence[str] = (),
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        nas_lr: float = 1e-3,
        nas_weight_decay: float = 0.0,
        finetune_lr: float | None = None,
        cost_view: str = "soft",
        drop_blocks: bool | None = None,
        plain: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["seed", "task"])
        self._task = task
        self.regularizer: Regularizer | None = None
        self.over_target = False  # this step's export is over the regularizer's target
        self.final_arch: list[LayerArch] | None = None
        if plain:
            self.net: nn.Module = seed
            self.final_arch = conv_arch(seed, torch.zeros(1, *input_shape))
            self.phase = "finetune"
            self.seed_arch = self.final_arch
        else:
            self.net = PIT(
                seed, torch.zeros(1, *input_shape), cost=cost, search=search,
                exclude=exclude, cost_view=cost_view, drop_blocks=drop_blocks,
            )
            self.phase = "warmup"
            # What the search started from, kept for reports once the wrapper is gone.
            self.seed_arch = self.net.seed_arch()
        self._exported_masks: dict[str, Tensor] | None = None
        # What the network costs outside its searchable layers, by cost name (on a
        # board: residual adds, copies), at its current widths. HardwareInTheLoop sets
        # it during the search; a target and val/objective charge the whole network.
        self.cost_outside: dict[str, float] = {}
        self._metrics = nn.ModuleDict()
        self._val_penalty: Tensor | None = None
        # Set by the fine-tune phase when it distils: not part of the model, so neither
        # in the state_dict nor in the optimizer.
        self.teacher: Teacher | None = None

    # -- wiring ----------------------------------------------------------------------

    @property
    def task(self) -> Task:
        if self._task is None:
            datamodule = getattr(self._trainer, "datamodule", None) if self._trainer else None
            self._task = getattr(datamodule, "task", None)
            if self._task is None:
                raise ValueError(
                    "PITModule has no task: pass task=... or use a datamodule with a `task`"
                )
        return self._task

    @property
    def pit(self) -> PIT:
        """The NAS wrapper; only during warmup and search."""
        if not isinstance(self.net, PIT):
            raise RuntimeError(f"the search is over (phase {self.phase!r}): no PIT wrapper")
        return self.net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def setup(self, stage: str) -> None:
        for split in ("val", "test"):
            if split not in self._metrics:
                self._metrics[split] = self.task.metric()

    # -- phases ----------------------------------------------------------------------

    def set_phase(self, phase: str) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; phases are {PHASES}")
        self.phase = phase

    def architecture(self) -> list[LayerArch]:
        """The current binarized architecture (fixed once exported)."""
        return self.final_arch if self.final_arch is not None else self.pit.arch()

    def on_train_start(self) -> None:
        # A resumed optimizer comes back with the learning rates it was saved with (e.g. a
        # sweep's shared warmup checkpoint); the configured ones must win.
        for optimizer in self.trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = self._learning_rate(group.get("name"))

    def _learning_rate(self, group: str | None) -> float:
        """The configured rate of a parameter group ("net", "nas", or None: a plain
        network's only group) in the current phase."""
        hp = self.hparams
        if group == "nas":
            return hp.nas_lr
        if group == "net" and self.phase != "finetune":
            return hp.lr
        return hp.finetune_lr if hp.finetune_lr is not None else hp.lr

    def restart_weights(self, optimizer: torch.optim.Optimizer) -> None:
        """Fresh optimizer state for the network weights at the fine-tune learning rate.

        Editing the optimizer's parameter groups is how Lightning's own fine-tuning
        callbacks change training mid-fit; the NAS group is left alone (frozen masks
        get no gradient, so it makes no step).
        """
        for group in optimizer.param_groups:
            if group.get("name") == "net":
                group["lr"] = self._learning_rate(None)  # the fine-tune rate
                for param in group["params"]:
                    optimizer.state.pop(param, None)

    def export_network(self) -> None:
        """Replace the PIT wrapper by its exported plain network (after fine-tune)."""
        pit = self.pit
        self.final_arch = pit.arch()
        self._exported_masks = {
            name: param.detach().clone() for name, param in pit.named_parameters()
            if any(param is p for p in pit.nas_parameters())
        }
        self.net = pit.export()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["pit"] = {"phase": self.phase, "exported_masks": self._exported_masks}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("pit")
        if state is None:
            raise ValueError("checkpoint was not written by PITModule: no 'pit' entry")
        if state["exported_masks"] is not None and isinstance(self.net, PIT):
            # Saved after export: rebuild the exported architecture; its weights load next.
            self.net.load_state_dict(
                {**self.net.state_dict(), **state["exported_masks"]}
            )
            self.export_network()
        self.phase = state["phase"]

    # -- steps -----------------------------------------------------------------------

    def _shared_step(self, batch: Any) -> tuple[Tensor, Tensor]:
        inputs, _ = self.task.split_batch(batch)
        output = self.net(inputs)
        return output, self.task.loss(output, batch)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        output, loss = self._shared_step(batch)
        batch_size = _batch_size(batch)
        self.log("train/task_loss", loss, batch_size=batch_size, on_step=False, on_epoch=True,
                 sync_dist=True)
        if self.phase == "finetune" and self.teacher is not None:
            term = self.teacher.term(self.task, output, batch)
            self.log("train/distillation", term, batch_size=batch_size, on_step=False,
                     on_epoch=True)
            loss = loss + self.teacher.weight * term
        del output
        if self.phase == "search" and self.regularizer is not None:
            # A target is met by the exported network, so its hinge reads the exact costs.
            exact = self.exported_costs() if self.regularizer.target is not None else None
            self.over_target = exact is not None and not self.regularizer.meets_target(exact)
            reg = self.regularizer(self.pit.costs(), self.pit.seed_costs(), exact)
            self.log("train/regularizer", reg, batch_size=batch_size, on_step=False,
                     on_epoch=True)
            loss = loss + reg
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size, sync_dist=True)
        return loss

    def _eval_step(self, split: str, batch: Any) -> None:
        output, loss = self._shared_step(batch)
        metric = self._metrics[split]
        metric.update(output, batch)
        self.log(f"{split}/loss", loss, batch_size=_batch_size(batch), sync_dist=True,
                 prog_bar=split == "val")
        if split == "val" and self._val_penalty is not None:
            self.log("val/objective", loss + self._val_penalty, batch_size=_batch_size(batch),
                     sync_dist=True)
        self.log(f"{split}/{self.task.metric_name}", metric, prog_bar=split == "val")

    def on_validation_epoch_start(self) -> None:
        # The search minimises task loss + regularizer, so that is what it monitors:
        # "val/objective" charges the binarized architecture's exact cost.
        self._val_penalty = None
        if self.phase == "search" and self.regularizer is not None:
            exact = {k: torch.tensor(v) for k, v in self.exported_costs().items()}
            self._val_penalty = self.regularizer(exact, self.pit.seed_costs()).to(self.device)

    def exported_costs(self) -> dict[str, float]:
        """Each cost of the network the search would export now: the searchable layers'
        exact costs plus :attr:`cost_outside`."""
        return {name: value + self.cost_outside.get(name, 0.0)
                for name, value in self.pit.exact_costs().items()}

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step("val", batch)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step("test", batch)

    def on_train_epoch_start(self) -> None:
        # The phase callbacks have run their epoch-start hooks by now.
        self.log("phase", float(PHASES.index(self.phase)), on_epoch=True)

    def on_train_epoch_end(self) -> None:
        """Log the soft and exact costs and each layer's kernel, dilation and channels.

        Straight to the loggers: some 50 values an epoch, which nothing monitors, cost
        ``self.log`` a few percent of a small network's training time.
        """
        metrics: dict[str, float] = {"epoch": float(self.current_epoch)}
        if isinstance(self.net, PIT):
            with torch.no_grad():
                metrics.update((f"cost/{k}", float(v)) for k, v in self.net.costs().items())
            metrics.update((f"arch/{k}", float(v)) for k, v in self.net.exact_costs().items())
        for layer in self.architecture():
            prefix = f"arch/{layer.name}"
            metrics[f"{prefix}/kernel"] = float(layer.kernel_size)
            metrics[f"{prefix}/dilation"] = float(layer.dilation)
            metrics[f"{prefix}/channels"] = float(layer.out_channels)
        log_to_loggers(self.trainer, metrics, self.global_step)

    # -- optimizers ------------------------------------------------------------------

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        if isinstance(self.net, PIT):
            return torch.optim.Adam([
                {"params": list(self.net.net_parameters()), "lr": hp.lr,
                 "weight_decay": hp.weight_decay, "name": "net"},
                {"params": list(self.net.nas_parameters()), "lr": hp.nas_lr,
                 "weight_decay": hp.nas_weight_decay, "name": "nas"},
            ])
        return torch.optim.Adam(self.net.parameters(), lr=self._learning_rate(None),
                                weight_decay=hp.weight_decay)

    def exported_copy(self) -> nn.Module:
        """A detached copy of the exported network (after the search)."""
        if isinstance(self.net, PIT):
            return self.net.export()
        return copy.deepcopy(self.net)


def log_to_loggers(trainer: L.Trainer, metrics: dict[str, float], step: int) -> None:
    """Write ``metrics`` to every logger of ``trainer``, bypassing ``self.log``'s
    per-value bookkeeping (for values nothing monitors)."""
    for logger in trainer.loggers:
        logger.log_metrics(metrics, step=step)


def _batch_size(batch: Any) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    return int(first.shape[0])


class Teacher:
    """A frozen network whose outputs the student is pulled towards (distillation).

    Held outside the module's parameters on purpose: it is training signal, not model.
    """

    def __init__(self, network: nn.Module, weight: float) -> None:
        self.network = network.eval().requires_grad_(False)
        self.weight = weight

    def term(self, task: Task, output: Tensor, batch: Any) -> Tensor:
        inputs, _ = task.split_batch(batch)
        with torch.no_grad():
            target = self.network(inputs)
        return task.distillation(output, target, batch)
