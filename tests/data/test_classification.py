"""The classification task reads the causal output at its last step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pit_lightning.tasks import Classification


def test_loss_is_cross_entropy_at_the_last_step():
    task = Classification(3)
    output = torch.randn(4, 3, 7)
    labels = torch.tensor([0, 2, 1, 2])
    expected = F.cross_entropy(output[:, :, -1], labels)
    torch.testing.assert_close(task.loss(output, (None, labels)), expected)
    # Earlier steps do not count.
    output[:, :, :-1] = 100.0
    torch.testing.assert_close(task.loss(output, (None, labels)), expected)


def test_accuracy_counts_every_series_of_the_epoch():
    task = Classification(2)
    metric = task.metric()
    # Argmax class 0 at the last step for every series, class 1 before it.
    scores = torch.zeros(3, 2, 2)
    scores[:, 0, -1] = 1.0
    scores[:, 1, 0] = 5.0
    metric.update(scores, (None, torch.tensor([0, 0, 1])))
    metric.update(scores[:1], (None, torch.tensor([1])))
    assert float(metric.compute()) == pytest.approx(2 / 4)


def test_wrong_width_or_class_count_is_refused():
    with pytest.raises(ValueError, match=">= 2 classes"):
        Classification(1)
    with pytest.raises(ValueError, match="emits 4 scores"):
        Classification(3).loss(torch.zeros(2, 4, 5), (None, torch.zeros(2, dtype=torch.long)))
