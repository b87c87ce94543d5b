"""Callbacks that own the three PIT phases: warmup, search and fine-tune.

Each phase runs while ``pl_module.phase`` names it, starts at the first epoch it sees
that name, and ends after ``max_epochs`` epochs or when the monitored value has not
improved for ``patience`` epochs (improvements count from ``min_epochs`` on). Ending
a phase hands the module to the next one; ending fine-tune stops the trainer. Their
progress lives in ``state_dict`` so that a checkpoint resumes the phase where it was.

The parameters never change during the fit: warmup and fine-tune freeze the masks by
dropping their gradients, and fine-tune restarts the weights' optimizer state through
public optimizer API. The strategy (and its DDP wrapper) is never touched; the plain
network is exported when fit ends (docs/training.md says why).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from ..cost.geometry import SEARCH_OPTIONS
from ..nas import PIT
from ..nas.masks import DilationMask
from .module import PHASES, PITModule, Teacher
from .regularizer import Regularizer


class Phase(Callback):
    """Start, count and end one phase; subclasses say what the phase does.

    :meth:`frozen_masks` names the mask kinds whose gradients the phase drops;
    ``keeps_best`` restores the network weights of the best monitored epoch when the
    phase ends.
    """

    name: str = ""
    next_phase: str | None = None
    keeps_best: bool = False

    def __init__(
        self,
        max_epochs: int | None = None,
        patience: int | None = None,
        min_epochs: int = 0,
        monitor: str = "val/loss",
        mode: str = "min",
    ) -> None:
        if max_epochs is None and patience is None:
            raise ValueError(f"{self.name} phase needs max_epochs, patience or both")
        if max_epochs is not None and max_epochs < 1:
            raise ValueError(f"{self.name} phase: max_epochs must be >= 1, got {max_epochs}")
        if mode not in ("min", "max"):
            raise ValueError(f"{self.name} phase: mode must be 'min' or 'max', got {mode!r}")
        self.max_epochs = max_epochs
        self.patience = patience
        self.min_epochs = min_epochs
        self.monitor = monitor
        self.mode = mode
        self.started = False
        self.finished = False
        self.epochs = 0
        self.best = math.inf
        self.wait = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    @property
    def state_key(self) -> str:
        return f"{type(self).__name__}[{self.name}]"

    # -- what a phase does -------------------------------------------------------------

    def start(self, trainer: L.Trainer, module: PITModule) -> None:
        """Called once, at the first epoch of the phase."""

    def each_epoch(self, trainer: L.Trainer, module: PITModule) -> None:
        """Called at the start of every epoch of the phase, resumed ones included."""

    def finish(self, trainer: L.Trainer, module: PITModule) -> None:
        """Called once, when the phase ends."""

    def frozen_masks(self) -> tuple[str, ...]:
        """Mask kinds (``"dilation"``, ``"rf"``, ``"channels"``) held still this step."""
        return ()

    def may_stop(self, module: PITModule) -> bool:
        """Whether patience may end the phase now (``max_epochs`` always does)."""
        return True

    def _improved(self, module: PITModule) -> None:
        if self.keeps_best:
            self.best_weights = copy.deepcopy(module.net.state_dict())

    def _finish(self, trainer: L.Trainer, module: PITModule) -> None:
        if self.best_weights is not None:
            module.net.load_state_dict(self.best_weights)
            rank_zero_info(f"PIT phase {self.name}: restored the weights of the best epoch")
        self.finish(trainer, module)

    # -- hooks -------------------------------------------------------------------------

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: PITModule) -> None:
        if pl_module.phase != self.name or self.finished:
            return
        if not self.started:
            self.started = True
            step = f"{PHASES.index(self.name) + 1}/{len(PHASES)}"
            rank_zero_info(f"──── PIT phase {step}: {self.name}, from epoch "
                           f"{trainer.current_epoch} ────")
            self.start(trainer, pl_module)
        self.each_epoch(trainer, pl_module)
        if isinstance(pl_module.net, PIT):
            pl_module.net.hold_masks(self.frozen_masks())

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: PITModule) -> None:
        if pl_module.phase != self.name or not self.started or self.finished:
            return
        self.epochs += 1
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None and self.epochs > self.min_epochs:
            score = float(value) if self.mode == "min" else -float(value)
            if score < self.best:
                self.best, self.wait = score, 0
                self._improved(pl_module)
            else:
                self.wait += 1
        elif value is None and self.patience is not None and self.epochs == 1:
            rank_zero_warn(
                f"{self.name} phase monitors {self.monitor!r}, which was not logged; "
                f"it will run for max_epochs={self.max_epochs}"
            )
        out_of_epochs = self.max_epochs is not None and self.epochs >= self.max_epochs
        out_of_patience = (self.patience is not None and self.wait >= self.patience
                           and self.may_stop(pl_module))
        if out_of_epochs or out_of_patience:
            reason = "max_epochs" if out_of_epochs else f"no improvement in {self.wait} epochs"
            rank_zero_info(f"PIT phase {self.name} ends after {self.epochs} epochs ({reason})")
            self.finished = True
            self._finish(trainer, pl_module)
            if self.next_phase is None:
                trainer.should_stop = True
            else:
                pl_module.set_phase(self.next_phase)

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: PITModule, optimizer: torch.optim.Optimizer
    ) -> None:
        # Dropping the mask gradients (rather than requires_grad=False) keeps the set
        # of trainable parameters fixed, which DDP needs; Adam skips a parameter
        # without a gradient, so the masks do not move. A plain module has no masks.
        if pl_module.phase != self.name or not isinstance(pl_module.net, PIT):
            return
        for param in pl_module.net.mask_parameters(*self.frozen_masks()):
            param.grad = None

    def state_dict(self) -> dict[str, Any]:
        return {"started": self.started, "finished": self.finished, "epochs": self.epochs,
                "best": self.best, "wait": self.wait, "best_weights": self.best_weights}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for key in ("started", "finished", "epochs", "best", "wait"):
            setattr(self, key, state_dict[key])
        self.best_weights = state_dict.get("best_weights")


class WarmupPhase(Phase):
    """Train the weights with every mask held at "keep all" and no regularizer.

    The weights of the best monitored epoch are restored when the phase ends, so the
    search (and a sweep's seed row) starts from them, not from ``patience`` epochs past.

    Args:
        dilation_dropout: probability, per layer and training step, of training the
            layer at a random reachable dilation instead of its dense kernel, so the
            warmed-up weights do not favour the dense kernel over the dilations the
            search will weigh. Validation always sees the dense seed.
    """

    name = "warmup"
    next_phase = "search"
    keeps_best = True

    def __init__(self, max_epochs: int | None = 20, patience: int | None = None,
                 min_epochs: int = 0, monitor: str = "val/loss", mode: str = "min",
                 dilation_dropout: float = 0.5) -> None:
        if not 0.0 <= dilation_dropout <= 1.0:
            raise ValueError(f"warmup phase: dilation_dropout must be in [0, 1], "
                             f"got {dilation_dropout}")
        super().__init__(max_epochs, patience, min_epochs, monitor, mode)
        self.dilation_dropout = dilation_dropout

    def frozen_masks(self) -> tuple[str, ...]:
        return SEARCH_OPTIONS

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: PITModule, batch: Any,
                             batch_idx: int) -> None:
        if pl_module.phase != self.name or not self.dilation_dropout:
            return
        for mask in _dilation_masks(pl_module):
            drop = float(torch.rand(())) < self.dilation_dropout
            mask.forced = int(torch.randint(1, mask.levels + 1, ())) if drop else None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: PITModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        if pl_module.phase != self.name or not self.dilation_dropout:
            return
        for mask in _dilation_masks(pl_module):
            mask.forced = None


def _dilation_masks(module: PITModule) -> list[DilationMask]:
    if not isinstance(module.net, PIT):
        return []
    return [layer.dilation_mask for _, layer in module.net.layers()
            if layer.dilation_mask is not None and layer.dilation_mask.levels]


class SearchPhase(Phase):
    """Train weights and masks jointly under the regularizer.

    Args:
        strength: lambda, for the sum of the costs or per cost name; with
            ``normalize`` it is in units of the seed's cost (see :class:`Regularizer`).
        target: constraint mode: only the cost above this value is penalised, and
            patience does not end the search while the network it would export (the
            binarized architecture plus the module's ``cost_outside``) is over it.
            When the export passes under it, the masks' Adam momentum is zeroed. A
            search that reaches ``max_epochs`` over it then shuts the open gates
            nearest their threshold, one at a time, until the export meets it
            (:meth:`~pit_lightning.nas.PIT.close_nearest`).
        normalize: divide each cost by the seed's, so one strength means the same on
            every task and cost.
        dilation_epochs: the first epochs of the search train only the dilation masks
            (receptive field and channels hold at their warmup values), so each
            layer's dilation is chosen while all its channels and taps are there to
            pay for; then every mask trains. They count towards ``max_epochs``, and
            improvements count from ``min_epochs`` after them on. 0: no such epochs.
        dilation_steps: the dilation-only epochs also last at least this many
            optimizer steps. None: ``1 / nas_lr``, what Adam (at most about ``nas_lr``
            per step) needs to take a gate from open to closed; on a small dataset
            (ArrowHead: 4 steps per epoch) 10 epochs would end before any dilation
            gate could cross the threshold.
        monitor: default ``val/objective``, the validation task loss plus the
            regularizer on the binarized architecture: what the search minimises. On
            the task loss alone the search would stop as soon as pruning starts to
            cost accuracy, at the same point whatever the strength.
    """

    name = "search"
    next_phase = "finetune"

    def __init__(
        self,
        strength: float | dict[str, float] = 1.0,
        target: float | dict[str, float] | None = None,
        normalize: bool = True,
        dilation_epochs: int = 10,
        dilation_steps: int | None = None,
        max_epochs: int | None = 60,
        patience: int | None = 10,
        min_epochs: int = 10,
        monitor: str = "val/objective",
        mode: str = "min",
    ) -> None:
        if dilation_epochs < 0:
            raise ValueError(f"search phase: dilation_epochs must be >= 0, got {dilation_epochs}")
        if dilation_steps is not None and dilation_steps < 0:
            raise ValueError(f"search phase: dilation_steps must be >= 0, got {dilation_steps}")
        super().__init__(max_epochs, patience, dilation_epochs + min_epochs, monitor, mode)
        self.dilation_epochs = dilation_epochs
        self.dilation_steps = dilation_steps
        self.after_dilation = min_epochs
        self.dilation_first = dilation_epochs > 0
        self.steps = 0
        self.was_over = False
        self.regularizer = Regularizer(strength, target, normalize)

    def frozen_masks(self) -> tuple[str, ...]:
        return ("rf", "channels") if self.dilation_first else ()

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: PITModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        super().on_before_optimizer_step(trainer, pl_module, optimizer)
        if pl_module.phase != self.name:
            return
        if self.dilation_first:
            self.steps += 1
        if self.was_over and not pl_module.over_target:
            # The hinge went quiet: the masks must not coast past the target on the
            # momentum it gave them (the gates it pushed cross the threshold together).
            for param in pl_module.net.nas_parameters():
                momentum = optimizer.state.get(param, {}).get("exp_avg")
                if momentum is not None:
                    momentum.zero_()
        self.was_over = pl_module.over_target

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: PITModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self.finished or not self.started or not self.dilation_first:
            return
        steps = self.dilation_steps
        if steps is None:
            steps = math.ceil(1.0 / pl_module.hparams.nas_lr)
        if self.epochs == 1 and self.max_epochs is not None \
                and self.steps * self.max_epochs <= steps:
            rank_zero_warn(
                f"search phase: {self.steps} optimizer steps per epoch; the dilation-only "
                f"part needs {steps} steps (dilation_steps, default 1 / nas_lr), so it "
                f"lasts all max_epochs={self.max_epochs} and channels and receptive field "
                "are never searched: raise nas_lr or max_epochs, or lower dilation_steps")
        if self.epochs >= self.dilation_epochs and self.steps >= steps:
            self.dilation_first = False
            self.min_epochs = self.epochs + self.after_dilation
            rank_zero_info(f"PIT phase {self.name}: every mask trains from epoch "
                           f"{trainer.current_epoch + 1} (dilation only for {self.epochs} "
                           f"epochs, {self.steps} steps)")

    def each_epoch(self, trainer: L.Trainer, module: PITModule) -> None:
        module.regularizer = self.regularizer

    def may_stop(self, module: PITModule) -> bool:
        # A target search goes on (up to max_epochs) until the network it would export
        # meets the target, however long the objective stalls on the way.
        return self.regularizer.meets_target(module.exported_costs())

    def finish(self, trainer: L.Trainer, module: PITModule) -> None:
        module.regularizer = None
        self._meet_target(module)

    def _meet_target(self, module: PITModule) -> None:
        """A search that ran out of epochs over its target shuts the gates it was
        nearest to shutting until the export meets it; fine-tune trains what is left."""
        def over() -> float:
            return self.regularizer.excess(module.exported_costs())

        if self.regularizer.target is None or (excess := over()) <= 0:
            return
        closed = module.pit.close_nearest(over)
        if (left := over()) > 0:
            rank_zero_warn(f"search phase ended {excess:.1%} over its target and no gate "
                           f"left to shut brings the export under it ({left:.1%} over)")
        else:
            rank_zero_info(f"PIT phase {self.name}: ended {excess:.1%} over its target; "
                           f"shut the {closed} gate(s) nearest their threshold to meet it")

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "dilation_first": self.dilation_first,
                "steps": self.steps, "min_epochs": self.min_epochs, "was_over": self.was_over}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        # Checkpoints from before step counting: the epoch count decided alone.
        self.dilation_first = state_dict.get("dilation_first",
                                             self.epochs < self.dilation_epochs)
        self.steps = state_dict.get("steps", 0)
        self.min_epochs = state_dict.get("min_epochs", self.min_epochs)
        self.was_over = state_dict.get("was_over", False)


class FineTunePhase(Phase):
    """Train the weights of the found architecture with a fresh optimizer state.

    The masks are frozen at the search's result, so the network computes exactly what
    its export does; the weights with the best monitored value are restored when the
    phase ends, and the plain exported network replaces the PIT wrapper when fit ends.
    """

    name = "finetune"
    next_phase = None
    keeps_best = True

    def __init__(self, max_epochs: int | None = 50, patience: int | None = 10,
                 min_epochs: int = 0, monitor: str = "val/loss", mode: str = "min",
                 distill: float = 0.0) -> None:
        if distill < 0:
            raise ValueError(f"fine-tune phase: distill must be >= 0, got {distill}")
        super().__init__(max_epochs, patience, min_epochs, monitor, mode)
        self.distill = distill

    def frozen_masks(self) -> tuple[str, ...]:
        return SEARCH_OPTIONS

    def start(self, trainer: L.Trainer, module: PITModule) -> None:
        arch = ", ".join(
            f"{a.name}: removed" if a.removed
            else f"{a.name}: k={a.kernel_size} d={a.dilation} c={a.out_channels}"
            for a in module.architecture()
        )
        rank_zero_info(f"PIT found architecture: {arch}")
        for optimizer in trainer.optimizers:
            module.restart_weights(optimizer)

    def each_epoch(self, trainer: L.Trainer, module: PITModule) -> None:
        # Also after a resume mid-phase: the teacher is not in any checkpoint.
        if self.distill and module.teacher is None and isinstance(module.net, PIT):
            module.teacher = Teacher(self._seed(trainer, module), self.distill)

    def _seed(self, trainer: L.Trainer, module: PITModule) -> torch.nn.Module:
        """The warmed-up seed (every mask "keep all", the warmup's best weights)."""
        warmup = next((cb for cb in trainer.callbacks if isinstance(cb, WarmupPhase)), None)
        if warmup is None or warmup.best_weights is None:
            raise ValueError("fine-tune distillation needs the warmup's best weights "
                             "(a WarmupPhase that ran in this fit or its checkpoint)")
        seed = copy.deepcopy(module.net)
        seed.load_state_dict(warmup.best_weights)
        return seed

    def on_fit_end(self, trainer: L.Trainer, pl_module: PITModule) -> None:
        pl_module.teacher = None
        if pl_module.phase == self.name and pl_module.final_arch is None:
            pl_module.export_network()


def default_phases(**overrides: Any) -> list[Phase]:
    """Warmup, search and fine-tune with their defaults, for scripts and tests."""
    return [
        WarmupPhase(**overrides.get("warmup", {})),
        SearchPhase(**overrides.get("search", {})),
        FineTunePhase(**overrides.get("finetune", {})),
    ]
