"""Fine-tune distillation: the warmed-up seed as teacher, each task's divergence."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from pit_lightning.tasks import Classification, PolyphonicMusic
from pit_lightning.training import FineTunePhase, default_phases
from training.helpers import phases, tiny_data, tiny_module, trainer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_music_distillation_is_the_frame_nll_when_the_teacher_is_certain():
    torch.manual_seed(0)
    target = (torch.rand(2, 88, 6) < 0.1).float()
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    batch = (target, target, mask)
    output = torch.randn(2, 88, 6)
    task = PolyphonicMusic()
    certain = 50.0 * (2 * target - 1)  # sigmoid = the targets, to float precision
    torch.testing.assert_close(task.distillation(output, certain, batch),
                               task.loss(output, batch))


def test_classification_distillation_is_zero_against_itself_and_positive_otherwise():
    task = Classification(3)
    output = torch.randn(4, 3, 5)
    batch = (torch.zeros(4, 1, 5), torch.tensor([0, 1, 2, 0]))
    assert float(task.distillation(output, output, batch)) == pytest.approx(0.0, abs=1e-6)
    assert float(task.distillation(output, torch.randn(4, 3, 5), batch)) > 0


class TeacherProbe(L.Callback):
    """Records the teacher's architecture and the logged distillation per phase."""

    def __init__(self) -> None:
        self.teacher_arch = None
        self.logged: dict[str, bool] = {}

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if module.phase == "finetune" and module.teacher is not None:
            self.teacher_arch = module.teacher.network.arch()

    def on_train_epoch_start(self, trainer, module):
        self.phase = module.phase  # the phase this epoch trains in

    def on_train_epoch_end(self, trainer, module):
        logged = "train/distillation" in trainer.callback_metrics
        self.logged[self.phase] = self.logged.get(self.phase, False) or logged


def test_fine_tune_distils_from_the_warmed_up_seed(tmp_path, chorale_cache):
    module, probe = tiny_module(), TeacherProbe()
    callbacks = phases(1, 3, 2, strength=50.0)
    callbacks[2] = FineTunePhase(max_epochs=2, patience=None, distill=1.0)
    trainer(tmp_path, [*callbacks, probe]).fit(module, tiny_data(chorale_cache))
    # The teacher is the dense seed (every mask "keep all"), whatever the search found.
    assert probe.teacher_arch == module.seed_arch
    assert module.final_arch != module.seed_arch
    assert probe.logged == {"warmup": False, "search": False, "finetune": True}
    assert module.teacher is None  # dropped when fit ends


def distilling_phases():
    return default_phases(warmup={"max_epochs": 1},
                          search={"max_epochs": 1, "patience": None, "min_epochs": 0,
                                  "dilation_epochs": 0},
                          finetune={"max_epochs": 3, "patience": None, "distill": 1.0})


def test_distillation_is_rebuilt_after_a_resume_mid_fine_tune(tmp_path, chorale_cache):
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1,
                                 filename="{epoch}", every_n_epochs=1)
    trainer(tmp_path, [*distilling_phases(), checkpoint], enable_checkpointing=True).fit(
        tiny_module(), tiny_data(chorale_cache))
    ckpt = tmp_path / "ckpt" / "epoch=2.ckpt"  # warmup 0, search 1, fine-tune 2..4
    assert torch.load(ckpt, weights_only=False)["pit"]["phase"] == "finetune"
    probe, resumed = TeacherProbe(), tiny_module()
    trainer(tmp_path / "resumed", [*distilling_phases(), probe]).fit(
        resumed, tiny_data(chorale_cache), ckpt_path=ckpt)
    assert probe.teacher_arch == resumed.seed_arch
    assert probe.logged == {"finetune": True}


def test_negative_distillation_weight_is_refused():
    with pytest.raises(ValueError, match="distill must be >= 0"):
        FineTunePhase(distill=-1.0)
