"""The contract between a dataset's batches and the training loop.

A LightningModule should not know whether it trains on piano rolls or heart-rate windows:
it asks the task which part of a batch feeds the model, how to score the output and which
metric to log. Each datamodule names its task, so a search script wires the two together
without dataset-specific code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

Batch = tuple[Tensor, ...]


class Task(ABC):
    """Loss, metric and batch layout of one learning problem.

    Attributes:
        metric_name: short name of the metric (``"nll"``, ``"mae"``), to log it under.
        higher_is_better: direction of the metric; the loss is always minimised.
        output_channels: channels the model must emit (the Conv1d output width).
    """

    metric_name: str
    higher_is_better: bool = False
    output_channels: int

    @property
    def monitor_mode(self) -> str:
        """``"max"`` or ``"min"``, as ModelCheckpoint and EarlyStopping expect."""
        return "max" if self.higher_is_better else "min"

    def split_batch(self, batch: Batch) -> tuple[Tensor, Batch]:
        """Split a batch into the model input and what the loss needs besides the output."""
        return batch[0], tuple(batch[1:])

    @abstractmethod
    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        """Scalar training loss of the model's ``output`` on ``batch``."""

    @abstractmethod
    def metric(self) -> Metric:
        """A fresh epoch-level metric, updated with ``metric.update(output, batch)``."""

    def distillation(self, output: Tensor, teacher: Tensor, batch: Batch) -> Tensor:
        """How far ``output`` is from a ``teacher`` network's output on the same batch.

        The default matches raw outputs (mean squared error, as logit matching does),
        which suits any task; tasks override it with the divergence of their own
        output distribution.
        """
        return F.mse_loss(output, teacher)

    def describe(self) -> dict[str, Any]:
        """Plain facts about the task, for logs and hyper-parameter records."""
        return {
            "task": type(self).__name__,
            "metric": self.metric_name,
            "higher_is_better": self.higher_is_better,
            "output_channels": self.output_channels,
        }
