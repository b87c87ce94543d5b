"""Heart-rate regression from PPG and accelerometer windows (PPG-Dalia, TEMPONet).

One number per 8 s window, in beats per minute; the papers report the mean absolute
error, so the L1 loss trains exactly the reported quantity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

from pit_lightning.tasks.base import Batch, Task


def bpm_prediction(output: Tensor) -> Tensor:
    """One BPM estimate per window, shape (B,), from a (B,), (B, 1) or (B, 1, T) output.

    A causal TCN emitting a sequence has seen the whole window only at its last step, so
    a (B, 1, T) output is read at t = T - 1.
    """
    if output.dim() == 3:
        if output.shape[1] != 1:
            raise ValueError(f"expected one output channel, got shape {tuple(output.shape)}")
        output = output[:, 0, -1]
    elif output.dim() == 2:
        if output.shape[1] != 1:
            raise ValueError(f"expected one output per window, got shape {tuple(output.shape)}")
        output = output[:, 0]
    elif output.dim() != 1:
        raise ValueError(f"unexpected output shape {tuple(output.shape)}")
    return output


class WindowMAE(Metric):
    """Mean absolute error in BPM over every window of the epoch."""

    higher_is_better = False
    is_differentiable = True
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("abs_error", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, output: Tensor, batch: Batch) -> None:
        target = batch[1]
        pred = bpm_prediction(output.detach())
        self.abs_error += (pred - target.to(pred.dtype)).abs().sum().to(self.abs_error.dtype)
        self.count += target.numel()

    def compute(self) -> Tensor:
        return self.abs_error / self.count.clamp_min(1.0)


class HeartRate(Task):
    """Batches ``(x, y)``: x (B, 4, 256) normalised PPG + 3-axis ACC, y (B,) BPM."""

    metric_name = "mae"
    higher_is_better = False
    output_channels = 1

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        target = batch[1]
        pred = bpm_prediction(output)
        return F.l1_loss(pred, target.to(pred.dtype))

    def metric(self) -> WindowMAE:
        return WindowMAE()
