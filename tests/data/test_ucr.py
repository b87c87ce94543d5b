"""UCR/UEA `.ts` files: parsing, splits, standardisation, and the bundled sets."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from pit_lightning.data import UCRDataModule, read_ts
from pit_lightning.data.ucr import find_split, stratified_split
from pit_lightning.tasks import Classification

HEADER = """# a comment
@problemName Toy
@timeStamps false
@univariate {univariate}
@classLabel true up down
@data
"""


def write_set(root, name="Toy", n_train=20, n_test=6, dims=1, length=12, ragged=False):
    generator = torch.Generator().manual_seed(0)
    for split, count in (("TRAIN", n_train), ("TEST", n_test)):
        lines = [HEADER.format(univariate=str(dims == 1).lower())]
        for i in range(count):
            label = "up" if i % 2 == 0 else "down"
            size = length - (i % 3 if ragged else 0)
            slope = 1.0 if label == "up" else -1.0
            dims_text = []
            for _ in range(dims):
                values = slope * torch.arange(size) + 0.1 * torch.randn(size, generator=generator)
                dims_text.append(",".join(f"{v:.4f}" for v in values.tolist()))
            lines.append(":".join(dims_text) + f":{label}\n")
        (root / f"{name}_{split}.ts").write_text("".join(lines))
    return root


def test_read_ts_parses_series_labels_and_class_order(tmp_path):
    write_set(tmp_path, dims=2)
    data = read_ts(tmp_path / "Toy_TRAIN.ts")
    assert data.classes == ("up", "down")
    assert data.series.shape == (20, 2, 12)
    assert data.labels.tolist()[:4] == [0, 1, 0, 1]
    assert data.series[0, 0, -1] > data.series[0, 0, 0]  # "up" rises


def test_shorter_series_are_padded_at_the_start(tmp_path):
    write_set(tmp_path, ragged=True)
    data = read_ts(tmp_path / "Toy_TRAIN.ts")
    assert data.series.shape[-1] == 12
    assert torch.all(data.series[2, 0, :2] == 0)  # series 2 is two samples short
    assert data.series[2, 0, -1] != 0


@pytest.mark.parametrize("body, message", [
    ("1,2,3:up\n1,x,3:down\n", "could not convert"),
    ("1,2:up\n1,2:left\n", "label 'left'"),
    ("1,2:3,4:up\n1,2:down\n", "dimensions"),
])
def test_bad_files_name_the_file_and_line(tmp_path, body, message):
    path = tmp_path / "Bad_TRAIN.ts"
    path.write_text(HEADER.format(univariate="true") + body)
    with pytest.raises(ValueError, match=message) as error:
        read_ts(path)
    assert "Bad_TRAIN.ts" in str(error.value)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Nope_TRAIN\.ts"):
        find_split("Nope", "TRAIN", tmp_path)


def test_stratified_split_keeps_every_class_on_both_sides():
    labels = torch.tensor([0] * 10 + [1] * 4 + [2] * 2)
    train, val = stratified_split(labels, 0.25, seed=3)
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert len(train) + len(val) == len(labels)
    for split in (train, val):
        assert set(labels[split].tolist()) == {0, 1, 2}


def test_datamodule_standardises_with_training_statistics(tmp_path):
    write_set(tmp_path, n_train=40)
    data = UCRDataModule("Toy", root=str(tmp_path), batch_size=8, val_fraction=0.25)
    assert isinstance(data.task, Classification)
    assert data.task.output_channels == 2
    assert data.input_shape == (1, 12)
    data.setup()
    train = data.datasets["train"].tensors[0]
    assert len(data.datasets["val"]) == 10 and len(data.datasets["test"]) == 6
    assert train.mean().abs() < 1e-5 and (train.std() - 1).abs() < 0.05
    x, y = next(iter(data.train_dataloader()))
    assert x.shape == (8, 1, 12) and y.dtype == torch.long


@pytest.mark.skipif(importlib.util.find_spec("aeon") is None, reason="aeon not installed")
def test_bundled_arrowhead_reads_offline():
    data = UCRDataModule("ArrowHead")
    assert data.input_shape == (1, 251)
    assert data.task.output_channels == 3
    assert len(data.test_set.labels) == 175
