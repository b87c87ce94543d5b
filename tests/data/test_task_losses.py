"""Task losses and epoch metrics: padding never counts, epochs weigh every frame equally."""

import pytest
import torch
import torch.nn.functional as F

from pit_lightning.tasks import FrameNLL, HeartRate, PolyphonicMusic, bpm_prediction


def _music_batch(lengths, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = len(lengths)
    x = (torch.rand(batch, 88, steps, generator=g) < 0.05).float()
    y = (torch.rand(batch, 88, steps, generator=g) < 0.05).float()
    mask = torch.zeros(batch, steps, dtype=torch.bool)
    for i, n in enumerate(lengths):
        mask[i, :n] = True
    logits = torch.randn(batch, 88, steps, generator=g)
    return logits, (x, y, mask)


def test_music_loss_is_mean_frame_nll_over_valid_frames():
    logits, batch = _music_batch([5, 3], steps=5)
    _, y, mask = batch
    expected = [
        F.binary_cross_entropy_with_logits(logits[i, :, t], y[i, :, t], reduction="sum")
        for i in range(2)
        for t in range(5)
        if mask[i, t]
    ]
    loss = PolyphonicMusic().loss(logits, batch)
    assert loss.item() == pytest.approx(torch.stack(expected).mean().item(), rel=1e-5)


def test_masked_frames_do_not_contribute():
    logits, batch = _music_batch([4, 2], steps=6)
    task = PolyphonicMusic()
    before = task.loss(logits, batch)
    garbage = logits.clone()
    garbage[:, :, 4:] = 1e4
    garbage[1, :, 2:] = -1e4
    assert torch.equal(task.loss(garbage, batch), before)
    garbage.requires_grad_(True)
    task.loss(garbage, batch).backward()
    assert garbage.grad[1, :, 2:].abs().sum() == 0
    assert garbage.grad[0, :, 4:].abs().sum() == 0


def test_frame_nll_metric_is_frame_weighted_over_the_epoch():
    task = PolyphonicMusic()
    metric = task.metric()
    assert isinstance(metric, FrameNLL)
    totals, frames = [], []
    for seed, lengths in enumerate([[7, 7, 7], [1], [3, 2]]):
        logits, batch = _music_batch(lengths, steps=7, seed=seed)
        metric.update(logits, batch)
        totals.append(task.loss(logits, batch) * sum(lengths))
        frames.append(sum(lengths))
    expected = torch.stack(totals).sum() / sum(frames)
    assert metric.compute().item() == pytest.approx(expected.item(), rel=1e-5)
    mean_of_batches = torch.stack([t / n for t, n in zip(totals, frames, strict=True)]).mean()
    assert metric.compute().item() != pytest.approx(mean_of_batches.item(), rel=1e-3)


def test_task_interface():
    music, heart = PolyphonicMusic(), HeartRate()
    assert (music.metric_name, music.output_channels, music.monitor_mode) == ("nll", 88, "min")
    assert (heart.metric_name, heart.output_channels, heart.monitor_mode) == ("mae", 1, "min")
    assert not music.higher_is_better and not heart.higher_is_better
    x, y, mask = torch.zeros(2, 88, 3), torch.ones(2, 88, 3), torch.ones(2, 3, dtype=torch.bool)
    inputs, rest = music.split_batch((x, y, mask))
    assert inputs is x and rest[0] is y and rest[1] is mask


def test_heart_rate_loss_and_mae():
    task = HeartRate()
    target = torch.tensor([60.0, 80.0, 100.0])
    batch = (torch.zeros(3, 4, 256), target)
    pred = torch.tensor([62.0, 77.0, 100.0])
    assert task.loss(pred[:, None], batch).item() == pytest.approx(5 / 3)
    metric = task.metric()
    metric.update(pred, batch)
    metric.update(torch.tensor([[70.0]]), (torch.zeros(1, 4, 256), torch.tensor([60.0])))
    assert metric.compute().item() == pytest.approx((2 + 3 + 0 + 10) / 4)


def test_bpm_prediction_reads_last_step_of_a_sequence():
    out = torch.arange(10.0).reshape(2, 1, 5)
    assert bpm_prediction(out).tolist() == [4.0, 9.0]
    with pytest.raises(ValueError, match="one output channel"):
        bpm_prediction(torch.zeros(2, 3, 5))
