"""The three phases run in one fit, hand over cleanly and resume from checkpoints."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from pit_lightning.nas import PIT
from pit_lightning.seeds import ResTCN
from pit_lightning.training import (
    FineTunePhase,
    PITModule,
    Regularizer,
    SaveExported,
    SearchPhase,
    WarmupPhase,
    default_phases,
    load_network,
)

from .helpers import phases, tiny_data, tiny_module, trainer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class Record(Callback):
    """Phase and mask values seen at each epoch start."""

    def __init__(self) -> None:
        self.phases: list[str] = []
        self.masks: list[dict[str, torch.Tensor]] = []
        self.time_searched: list[set[bool]] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.phases.append(pl_module.phase)
        if isinstance(pl_module.net, PIT):
            self.time_searched.append({layer.time_searched for _, layer in
                                       pl_module.net.layers()})
            self.masks.append({n: p.detach().clone() for n, p in pl_module.net.named_parameters()
                               if n.endswith((".alpha", ".beta", ".gamma"))})


def test_one_fit_runs_warmup_search_and_finetune(tmp_path, chorale_cache):
    module, record = tiny_module(), Record()
    # Record runs after the phase callbacks, so it sees each epoch's phase.
    run = trainer(tmp_path, [*phases(1, 2, 2), SaveExported(str(tmp_path)), record])
    run.fit(module, tiny_data(chorale_cache))
    assert record.phases == ["warmup", "search", "search", "finetune", "finetune"]
    # Only the search needs the gradient of the taps a layer dropped.
    assert record.time_searched == [{False}, {True}, {True}, {False}, {False}]
    # Warmup leaves the masks at "keep all"; the search moves them.
    assert all(bool((v == 1).all()) for v in record.masks[1].values())
    assert any(not torch.equal(record.masks[1][k], record.masks[2][k]) for k in record.masks[1])
    assert not isinstance(module.net, PIT)
    with pytest.raises(PermissionError, match="trust=True"):
        load_network(tmp_path / "network.pt")  # pickles run code: not without consent
    exported = load_network(tmp_path / "network.pt", trust=True)
    batch = torch.rand(2, 88, 30)
    module.eval()
    torch.testing.assert_close(exported(batch), module.net(batch))
    arch = (tmp_path / "arch.json").read_text()
    assert '"phase": "finetune"' in arch


def test_search_regularizer_shrinks_the_network(tmp_path, chorale_cache):
    module = tiny_module()
    run = trainer(tmp_path, phases(1, 4, 1, strength=5.0))
    run.fit(module, tiny_data(chorale_cache))
    seed_params = sum(a.params for a in tiny_module().pit.arch())
    assert sum(a.params for a in module.final_arch) < seed_params


def test_constraint_mode_penalises_only_above_target():
    reg = Regularizer(strength=2.0, target=10.0, normalize=False)
    assert float(reg({"params": torch.tensor(8.0)})) == 0.0
    assert float(reg({"params": torch.tensor(13.0)})) == 6.0
    per_cost = Regularizer(strength={"params": 1.0, "macs": 0.5}, target={"macs": 4.0},
                           normalize=False)
    value = per_cost({"params": torch.tensor(3.0), "macs": torch.tensor(10.0)})
    assert float(value) == 3.0 + 0.5 * 6.0


def _checkpointing_run(root, cache, epochs=(1, 3, 3)):
    checkpoint = ModelCheckpoint(dirpath=root / "ckpt", save_top_k=-1,
                                 filename="{epoch}", every_n_epochs=1)
    run = trainer(root, [*phases(*epochs), checkpoint], enable_checkpointing=True)
    module = tiny_module()
    run.fit(module, tiny_data(cache))
    return module


def test_resume_mid_search_keeps_masks_and_phase(tmp_path, chorale_cache):
    _checkpointing_run(tmp_path, chorale_cache)
    ckpt_path = tmp_path / "ckpt" / "epoch=1.ckpt"  # warmup epoch 0, search epoch 1 done
    saved = torch.load(ckpt_path, weights_only=False)
    assert saved["pit"]["phase"] == "search"
    record = Record()
    callbacks = [*phases(1, 3, 3), record]
    module = tiny_module()
    trainer(tmp_path / "resumed", callbacks).fit(module, tiny_data(chorale_cache),
                                                 ckpt_path=ckpt_path)
    assert record.phases == ["search", "search", "finetune", "finetune", "finetune"]
    for name, value in record.masks[0].items():
        torch.testing.assert_close(value, saved["state_dict"][f"net.{name}"])
    search = next(cb for cb in callbacks if isinstance(cb, SearchPhase))
    assert search.epochs == 3


def test_resume_applies_the_configured_learning_rates(tmp_path, chorale_cache):
    """A restored optimizer carries the rates it was saved with; the new config wins
    (a sweep searches from one warmup checkpoint with other settings)."""
    _checkpointing_run(tmp_path, chorale_cache)
    ckpt_path = tmp_path / "ckpt" / "epoch=0.ckpt"  # end of warmup
    saved = torch.load(ckpt_path, weights_only=False)
    assert {g["lr"] for g in saved["optimizer_states"][0]["param_groups"]} == {3e-3, 0.1}
    seen = {}

    class Rates(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            seen.update({g["name"]: g["lr"] for g in trainer.optimizers[0].param_groups})

    module = PITModule(ResTCN(levels=2, channels=8, kernel_size=3, dropout=0.0),
                       input_shape=[88, 24], lr=1e-3, nas_lr=0.02)
    trainer(tmp_path / "resumed", [*phases(1, 2, 1), Rates()]).fit(
        module, tiny_data(chorale_cache), ckpt_path=ckpt_path)
    assert seen == {"net": 1e-3, "nas": 0.02}


def test_resume_mid_finetune_rebuilds_the_exported_network(tmp_path, chorale_cache):
    first = _checkpointing_run(tmp_path, chorale_cache)
    ckpt_path = tmp_path / "ckpt" / "epoch=4.ckpt"  # fine-tune epochs 4..6
    saved = torch.load(ckpt_path, weights_only=False)
    assert saved["pit"]["phase"] == "finetune"
    record = Record()
    callbacks = [*phases(1, 3, 3), record]
    module = tiny_module()
    resumed = trainer(tmp_path / "resumed", callbacks)
    resumed.fit(module, tiny_data(chorale_cache), ckpt_path=ckpt_path)
    assert record.phases == ["finetune", "finetune"]
    assert not isinstance(module.net, PIT)
    assert module.final_arch == first.final_arch
    finetune = next(cb for cb in callbacks if isinstance(cb, FineTunePhase))
    assert finetune.epochs == 3


class ScriptedScore(PITModule):
    """Logs a made-up validation score: best after epoch 1, worst at the last epoch."""

    scores = (3.0, 1.0, 2.0, 4.0)

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self.log("scripted", self.scores[self.current_epoch])


class Snapshot(Callback):
    """The network weights at the end of each training epoch, before the phases act."""

    def __init__(self) -> None:
        self.weights: list[dict[str, torch.Tensor]] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.weights.append({k: v.detach().clone() for k, v in pl_module.net.state_dict().items()})


def test_warmup_ends_with_the_weights_of_its_best_epoch(tmp_path, chorale_cache):
    seed = ResTCN(levels=2, channels=8, kernel_size=3, dropout=0.0)
    module = ScriptedScore(seed, input_shape=[88, 24], lr=3e-2)
    snapshot = Snapshot()
    warmup = WarmupPhase(max_epochs=None, patience=2, monitor="scripted")
    # Snapshot first: it sees each epoch's weights before the warmup restores any.
    run = trainer(tmp_path, [snapshot, warmup, SearchPhase(), FineTunePhase()], max_epochs=4)
    run.fit(module, tiny_data(chorale_cache))
    assert warmup.finished and module.phase == "search"
    assert len(snapshot.weights) == 4
    last, best = snapshot.weights[-1], snapshot.weights[1]
    assert any(not torch.equal(last[k], best[k]) for k in best)
    for name, value in module.net.state_dict().items():
        torch.testing.assert_close(value, best[name], rtol=0, atol=0)
    # The best weights travel in the callback's state, so a resumed run keeps them.
    state = warmup.state_dict()
    restored = WarmupPhase(max_epochs=None, patience=2, monitor="scripted")
    restored.load_state_dict(state)
    torch.testing.assert_close(restored.best_weights, best, rtol=0, atol=0)


def test_phase_arguments_are_checked():
    with pytest.raises(ValueError, match="warmup phase needs max_epochs, patience or both"):
        WarmupPhase(max_epochs=None, patience=None)
    with pytest.raises(ValueError, match="search phase: mode must be 'min' or 'max'"):
        SearchPhase(mode="lowest")
    with pytest.raises(ValueError, match="regularizer strength must be non-negative"):
        SearchPhase(strength=-1.0)


def test_module_without_task_says_what_is_missing():
    module = tiny_module()
    with pytest.raises(ValueError, match="PITModule has no task"):
        _ = module.task


def test_progress_is_logged_per_epoch(tmp_path, chorale_cache):
    module = tiny_module(cost={"params": "params", "macs": "macs"})
    logger = L.pytorch.loggers.CSVLogger(tmp_path)
    run = trainer(tmp_path, phases(1, 1, 1), logger=logger)
    run.fit(module, tiny_data(chorale_cache))
    import pandas as pd

    metrics = pd.read_csv(logger.log_dir + "/metrics.csv")
    for column in ("phase", "cost/params", "cost/macs", "arch/params", "arch/macs",
                   "arch/blocks.1.net.4/kernel", "arch/blocks.1.net.4/dilation",
                   "arch/blocks.1.net.4/channels", "val/nll", "train/task_loss"):
        assert column in metrics.columns, column
    assert sorted(metrics["phase"].dropna().unique().tolist()) == [0.0, 1.0, 2.0]


def test_plain_module_trains_the_seed_as_it_is(tmp_path, chorale_cache):
    from pit_lightning.seeds import ResTCN
    from pit_lightning.training import PITModule

    seed = ResTCN(levels=2, channels=8, kernel_size=3, dropout=0.0, dilations=[1, 2])
    module = PITModule(seed, input_shape=[88, 24], lr=3e-3, plain=True)
    assert module.net is seed and module.phase == "finetune"
    arch = {a.name: a for a in module.architecture()}
    assert arch["blocks.1.net.0"].dilation == 2 and arch["blocks.1.net.0"].kernel_size == 3
    assert sum(a.params for a in arch.values()) == sum(p.numel() for p in seed.parameters())
    before = {k: v.clone() for k, v in seed.state_dict().items()}
    run = trainer(tmp_path, phases(1, 1, 2))
    run.fit(module, tiny_data(chorale_cache))
    assert run.current_epoch == 2  # only the fine-tune phase ran
    assert any(not torch.equal(before[k], v) for k, v in seed.state_dict().items())


def test_no_callback_edits_the_strategy():
    """Phases switch through public hooks only: no strategy assignment or private calls."""
    import ast
    from pathlib import Path

    import pit_lightning

    for path in Path(pit_lightning.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    assert "strategy" not in ast.unparse(target), (path, ast.unparse(node))
            if isinstance(node, ast.Attribute) and "strategy" in ast.unparse(node.value):
                assert not node.attr.startswith("_"), (path, ast.unparse(node))
                assert node.attr != "configure_ddp", (path, ast.unparse(node))


def test_dilation_epochs_train_the_dilation_masks_first(tmp_path, chorale_cache):
    module, record = tiny_module(), Record()
    run = trainer(tmp_path, [*phases(1, 4, 1, strength=5.0, dilation_epochs=2), record])
    run.fit(module, tiny_data(chorale_cache))
    assert record.phases[:5] == ["warmup", "search", "search", "search", "search"]
    assert record.time_searched[1:5] == [{True}] * 4  # the dilation masks learn throughout
    start, after_two, end = record.masks[1], record.masks[3], record.masks[4]

    def moved(a, b, suffix):
        return any(not torch.equal(a[k], b[k]) for k in a if k.endswith(suffix))

    assert moved(start, after_two, ".gamma")
    assert not moved(start, after_two, ".beta") and not moved(start, after_two, ".alpha")
    assert moved(after_two, end, ".alpha")


def test_dilation_only_epochs_last_the_steps_a_gate_needs_to_close(tmp_path, chorale_cache):
    """On a small dataset the dilation-only epochs go on until Adam could have moved a
    gate from open to closed (1 / nas_lr steps), then min_epochs count from there."""
    module, record = tiny_module(), Record()  # nas_lr 0.1: 10 steps
    warmup, search, finetune = phases(1, 8, 1, strength=5.0, dilation_epochs=1,
                                      dilation_steps=None)
    run = trainer(tmp_path, [warmup, search, finetune, record])
    data = tiny_data(chorale_cache)
    run.fit(module, data)
    per_epoch = len(data.train_dataloader())
    assert per_epoch < 10  # 1 epoch would be too short
    epochs = -(-10 // per_epoch)  # ceil
    searched = record.masks[1:1 + 8]

    def moved(a, b, suffix):
        return any(not torch.equal(a[k], b[k]) for k in a if k.endswith(suffix))

    assert not moved(searched[0], searched[epochs], ".alpha")
    assert moved(searched[0], searched[epochs], ".gamma")
    assert moved(searched[epochs], searched[-1], ".alpha")
    assert not search.dilation_first and search.steps == epochs * per_epoch
    assert search.min_epochs == epochs  # min_epochs=0 after the dilation-only epochs
    resumed = SearchPhase(dilation_epochs=1)
    resumed.load_state_dict(search.state_dict())
    assert (resumed.dilation_first, resumed.steps, resumed.min_epochs) == (
        False, search.steps, epochs)


def test_mask_parameters_by_kind():
    pit = tiny_module().pit
    gammas = list(pit.mask_parameters("dilation"))
    assert gammas and all(p.dim() == 1 for p in gammas)
    every = list(pit.nas_parameters())
    kinds = [*pit.mask_parameters("dilation"), *pit.mask_parameters("rf"),
             *pit.mask_parameters("channels")]
    assert {id(p) for p in kinds} == {id(p) for p in every} and len(kinds) == len(every)
    with pytest.raises(ValueError, match="unknown mask kind"):
        list(pit.mask_parameters("taps"))


class ForcedLevels(Callback):
    """The dilation levels imposed during training steps, and during validation."""

    def __init__(self) -> None:
        self.train: list[list] = []
        self.val: list[list] = []

    @staticmethod
    def _levels(module):
        return [layer.dilation_mask.forced for _, layer in module.net.layers()
                if layer.dilation_mask is not None and layer.dilation_mask.levels]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if pl_module.phase == "warmup":
            self.train.append(self._levels(pl_module))

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx,
                                  dataloader_idx=0) -> None:
        self.val.append(self._levels(pl_module))


def test_warmup_dilation_dropout_trains_sampled_dilations_and_validates_dense(
        tmp_path, chorale_cache):
    module, seen = tiny_module(), ForcedLevels()
    warmup = WarmupPhase(max_epochs=1, dilation_dropout=1.0)
    run = trainer(tmp_path, [warmup, *phases(1, 1, 1)[1:], seen])
    run.fit(module, tiny_data(chorale_cache))
    assert seen.train and all(level is not None for step in seen.train for level in step)
    assert all(level is None for step in seen.val for level in step)
    with pytest.raises(ValueError, match="dilation_dropout must be in"):
        WarmupPhase(dilation_dropout=1.5)


def test_a_forced_dilation_keeps_its_taps_and_the_gradient():
    from pit_lightning.nas.masks import DilationMask

    mask = DilationMask(9)
    mask.forced = 2  # dilation 4: taps 0, 4, 8
    taps = mask()
    assert taps.tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 1]
    taps.sum().backward()
    assert mask.gamma.grad is not None
    mask.forced = None
    assert mask().tolist() == [1.0] * 9


@pytest.fixture(scope="module")
def checkpointed_fit(tmp_path_factory, chorale_cache):
    """One fit (warmup 1, search 3, fine-tune 3 epochs) with a checkpoint every epoch."""
    root = tmp_path_factory.mktemp("checkpointed")
    return root, _checkpointing_run(root, chorale_cache)


@pytest.mark.parametrize(
    ("epoch", "phase", "rest"),
    [
        (0, "search", ["search"] * 3 + ["finetune"] * 3),  # end of warmup
        (2, "search", ["search"] + ["finetune"] * 3),  # during the search
        (3, "finetune", ["finetune"] * 3),  # end of the search
        (5, "finetune", ["finetune"]),  # during fine-tune
    ],
)
def test_resume_from_every_checkpoint_of_a_fit(tmp_path, chorale_cache, checkpointed_fit,
                                                epoch, phase, rest):
    root, first = checkpointed_fit
    ckpt_path = root / "ckpt" / f"epoch={epoch}.ckpt"
    assert torch.load(ckpt_path, weights_only=False)["pit"]["phase"] == phase
    record = Record()
    module = tiny_module()
    trainer(tmp_path / "resumed", [*phases(1, 3, 3), record]).fit(
        module, tiny_data(chorale_cache), ckpt_path=ckpt_path
    )
    assert record.phases == rest
    assert not isinstance(module.net, PIT)
    assert len(module.final_arch) == len(first.final_arch)


@pytest.mark.parametrize(("target", "search_epochs"), [(1.0, 5), (1e12, 2)])
def test_patience_does_not_end_a_search_over_its_target(tmp_path, chorale_cache, target,
                                                        search_epochs):
    # A monitor that never improves: patience 1 ends the search at its second epoch,
    # unless the network it would export is still over the target (1 param: always).
    record = Record()
    callbacks = default_phases(
        warmup={"max_epochs": 1},
        search={"max_epochs": 5, "patience": 1, "min_epochs": 0, "dilation_epochs": 0,
                "strength": 1e-3, "target": target, "monitor": "phase"},
        finetune={"max_epochs": 1, "patience": None},
    )
    run = trainer(tmp_path, [*callbacks, record])
    run.fit(tiny_module(), tiny_data(chorale_cache))
    assert record.phases.count("search") == search_epochs


def test_a_search_too_short_for_its_dilation_steps_warns(tmp_path, chorale_cache):
    warmup, search, finetune = phases(1, 2, 1, dilation_epochs=1, dilation_steps=1000)
    run = trainer(tmp_path, [warmup, search, finetune])
    with pytest.warns(UserWarning, match="the dilation-only part needs 1000 steps"):
        run.fit(tiny_module(), tiny_data(chorale_cache))
    assert search.dilation_first  # it never ended


def test_a_search_out_of_epochs_over_its_target_shuts_gates_to_meet_it(tmp_path,
                                                                         chorale_cache,
                                                                         caplog):
    # A strength too weak to get there in one epoch: the search ends over the target,
    # and the export (what fine-tune trains) meets it all the same.
    seed_params = sum(a.params for a in tiny_module().pit.arch())
    target = 0.7 * seed_params
    warmup, _, finetune = phases(1, 1, 1)
    search = SearchPhase(max_epochs=1, patience=None, dilation_epochs=0, dilation_steps=0,
                         strength=1e-6, target=target)
    module = tiny_module()
    with caplog.at_level("INFO"):
        trainer(tmp_path, [warmup, search, finetune]).fit(module, tiny_data(chorale_cache))
    assert "over its target; shut the" in caplog.text
    assert sum(a.params for a in module.final_arch) <= target


def test_a_target_no_gate_can_meet_warns(tmp_path, chorale_cache):
    warmup, _, finetune = phases(1, 1, 1)
    search = SearchPhase(max_epochs=1, patience=None, dilation_epochs=0, dilation_steps=0,
                         strength=1e-6, target=1.0)
    with pytest.warns(UserWarning, match="no gate left to shut brings the export under it"):
        trainer(tmp_path, [warmup, search, finetune]).fit(tiny_module(),
                                                          tiny_data(chorale_cache))


def test_the_masks_stop_coasting_when_the_export_passes_under_its_target():
    module = tiny_module()
    module.set_phase("search")
    optimizer = torch.optim.Adam(module.net.nas_parameters(), lr=0.01)
    for param in module.net.nas_parameters():
        param.grad = torch.ones_like(param)
    optimizer.step()  # every mask parameter now has momentum
    search = SearchPhase(target=1.0, dilation_epochs=0)

    def momentum() -> list[bool]:
        return [bool(optimizer.state[p]["exp_avg"].any()) for p in module.net.nas_parameters()]

    for over, kept in [(True, True), (True, True), (False, False)]:
        module.over_target = over
        search.on_before_optimizer_step(None, module, optimizer)
        assert all(momentum()) if kept else not any(momentum())
        resumed = SearchPhase(target=1.0, dilation_epochs=0)
        resumed.load_state_dict(search.state_dict())
        assert resumed.was_over == over  # a checkpoint keeps where the export was
    # Under the target from the start (or without one): nothing to stop.
    optimizer.step()
    search.on_before_optimizer_step(None, module, optimizer)
    assert all(momentum())
