"""The datamodules plug into Lightning and LightningCLI through the task interface alone."""

import lightning as L
import pytest
import torch
from torch import nn

from pit_lightning.data import ChoralesDataModule, PianoRollDataModule, PPGDaliaDataModule
from pit_lightning.tasks import Task


class _TaskModule(L.LightningModule):
    """The smallest module that trains any datamodule through its task."""

    def __init__(self, task: Task, in_channels: int) -> None:
        super().__init__()
        self.task = task
        self.net = nn.Conv1d(in_channels, task.output_channels, kernel_size=1)
        self.val_metric = task.metric()

    def training_step(self, batch, batch_idx):
        inputs, _ = self.task.split_batch(batch)
        return self.task.loss(self.net(inputs), batch)

    def validation_step(self, batch, batch_idx):
        inputs, _ = self.task.split_batch(batch)
        self.val_metric.update(self.net(inputs), batch)
        self.log(f"val_{self.task.metric_name}", self.val_metric, batch_size=inputs.shape[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_fast_dev_run_on_chorales(tmp_path):
    pytest.importorskip("music21")
    dm = ChoralesDataModule(batch_size=2, limit=5, cache_dir=str(tmp_path))
    model = _TaskModule(dm.task, dm.input_channels)
    trainer = L.Trainer(
        fast_dev_run=True, accelerator="cpu", logger=False, enable_progress_bar=False
    )
    trainer.fit(model, datamodule=dm)
    assert torch.isfinite(trainer.callback_metrics["val_nll"])


@pytest.mark.parametrize(
    "cls, args",
    [
        (ChoralesDataModule, ["--limit=10", "--cache_dir=/tmp/c", "--batch_size=4"]),
        (PianoRollDataModule, ["--path=data/Nottingham.pickle", "--batch_size=1"]),
        (PPGDaliaDataModule, ["--root=data/PPG_FieldStudy", "--test_subjects=[7]"]),
    ],
)
def test_constructor_arguments_parse_like_lightning_cli(cls, args):
    jsonargparse = pytest.importorskip("jsonargparse")
    parser = jsonargparse.ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(cls, "data")
    config = parser.parse_args([arg.replace("--", "--data.") for arg in args])
    assert config.data.batch_size in (1, 4, 128)
