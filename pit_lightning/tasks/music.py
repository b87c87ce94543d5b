"""Polyphonic music: next-step prediction on 88-key piano rolls.

The score reported for JSB Chorales, Nottingham and the other Boulanger-Lewandowski sets
is the negative log-likelihood per frame: the sum over the 88 keys of the binary
cross-entropy between the predicted note probabilities and the notes that sound next,
averaged over frames. Batches pad pieces to a common length, so padded frames must be
left out of both the loss and the epoch average.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

from pit_lightning.tasks.base import Batch, Task

NUM_KEYS = 88


def frame_nll(logits: Tensor, target: Tensor) -> Tensor:
    """Per-frame NLL, shape (B, T), from logits and 0/1 targets of shape (B, 88, T)."""
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ")
    bce = F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), reduction="none")
    return bce.sum(dim=1)


def masked_frame_nll(logits: Tensor, target: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Sum of per-frame NLL over the frames where ``mask`` is true, and their count."""
    nll = frame_nll(logits, target)
    weights = mask.to(nll.dtype)
    return (nll * weights).sum(), weights.sum()


class FrameNLL(Metric):
    """Frame NLL over an epoch, every valid frame weighted equally.

    Averaging per-batch means would over-weight short batches; accumulating the sum and the
    frame count gives the number the papers report.
    """

    higher_is_better = False
    is_differentiable = True
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("frames", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, output: Tensor, batch: Batch) -> None:
        _, target, mask = batch
        total, frames = masked_frame_nll(output.detach(), target, mask)
        self.total += total.to(self.total.dtype)
        self.frames += frames.to(self.frames.dtype)

    def compute(self) -> Tensor:
        return self.total / self.frames.clamp_min(1.0)


class PolyphonicMusic(Task):
    """Batches ``(x, y, mask)``: x, y (B, 88, T) 0/1 rolls, y = x one step ahead; mask (B, T).

    The model maps x to logits (B, 88, T); output at t scores the notes of y at t.
    """

    metric_name = "nll"
    higher_is_better = False
    output_channels = NUM_KEYS

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        _, target, mask = batch
        total, frames = masked_frame_nll(output, target, mask)
        return total / frames.clamp_min(1.0)

    def metric(self) -> FrameNLL:
        return FrameNLL()

    def distillation(self, output: Tensor, teacher: Tensor, batch: Batch) -> Tensor:
        """Frame NLL against the teacher's note probabilities, over the valid frames."""
        return self.loss(output, (batch[0], torch.sigmoid(teacher), batch[2]))
