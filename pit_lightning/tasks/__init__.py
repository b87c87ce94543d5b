"""Losses, metrics and batch layouts of the benchmark tasks."""

from pit_lightning.tasks.base import Batch, Task
from pit_lightning.tasks.classification import Classification, class_scores
from pit_lightning.tasks.heart_rate import HeartRate, WindowMAE, bpm_prediction
from pit_lightning.tasks.music import (
    NUM_KEYS,
    FrameNLL,
    PolyphonicMusic,
    frame_nll,
    masked_frame_nll,
)

__all__ = [
    "NUM_KEYS",
    "Batch",
    "Classification",
    "FrameNLL",
    "HeartRate",
    "PolyphonicMusic",
    "Task",
    "WindowMAE",
    "bpm_prediction",
    "class_scores",
    "frame_nll",
    "masked_frame_nll",
]
