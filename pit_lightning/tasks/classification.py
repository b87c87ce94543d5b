"""Sequence classification: one label per series, read at the TCN's last step.

A causal TCN emits one score vector per time step; only the last one has seen the whole
series (as far as its receptive field reaches), so the loss and the metric read the
output at t = T - 1. That makes the receptive field a first-class design choice, which
is what PIT searches.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torchmetrics.classification import MulticlassAccuracy

from pit_lightning.tasks.base import Batch, Task


def class_scores(output: Tensor) -> Tensor:
    """Logits (B, K) from a (B, K, T) sequence output (last step) or a (B, K) output."""
    if output.dim() == 3:
        return output[:, :, -1]
    if output.dim() == 2:
        return output
    raise ValueError(f"expected a (B, classes[, T]) output, got shape {tuple(output.shape)}")


class _Accuracy(MulticlassAccuracy):
    """Micro-averaged accuracy fed with the task's ``(output, batch)`` pair."""

    def update(self, output: Tensor, batch: Batch) -> None:  # type: ignore[override]
        super().update(class_scores(output.detach()), batch[1])


class Classification(Task):
    """Batches ``(x, y)``: x (B, C, T), y (B,) class indices; loss is cross-entropy.

    Args:
        num_classes: number of classes, the model's output channels.
    """

    metric_name = "accuracy"
    higher_is_better = True

    def __init__(self, num_classes: int) -> None:
        if num_classes < 2:
            raise ValueError(f"a classification task needs >= 2 classes, got {num_classes}")
        self.output_channels = num_classes

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        scores = class_scores(output)
        if scores.shape[1] != self.output_channels:
            raise ValueError(
                f"the model emits {scores.shape[1]} scores, the task has "
                f"{self.output_channels} classes"
            )
        return F.cross_entropy(scores, batch[1])

    def distillation(self, output: Tensor, teacher: Tensor, batch: Batch) -> Tensor:
        """KL divergence from the teacher's class distribution at the last step."""
        return F.kl_div(F.log_softmax(class_scores(output), dim=1),
                        F.log_softmax(class_scores(teacher), dim=1),
                        log_target=True, reduction="batchmean")

    def metric(self) -> MulticlassAccuracy:
        return _Accuracy(num_classes=self.output_channels, average="micro")
