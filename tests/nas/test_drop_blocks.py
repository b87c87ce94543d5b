"""Depth search (``drop_blocks``): a residual block whose first conv keeps no channel
is removed, exactly, in the export, the costs and the board's lowering."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn

from hw_profiler.deploy import network_geometries
from hw_profiler.table import ChannelGrid, LatencyTable, TableMeta
from pit_lightning.hardware import TableCost, enumerate_geometries
from pit_lightning.hardware.space import add_geometry
from pit_lightning.nas import PIT, PITError
from pit_lightning.seeds import ResTCN

from .helpers import central_difference

LENGTH = 24
STEP = 4
HEADS = [f"blocks.{i}.net.0" for i in range(3)]


def seed() -> ResTCN:
    torch.manual_seed(0)
    return ResTCN(in_channels=2, out_channels=3, levels=3, channels=8, kernel_size=3,
                  dropout=0.0)


@pytest.fixture
def pit() -> PIT:
    return PIT(seed(), torch.zeros(1, 2, LENGTH), drop_blocks=True).double()


def set_alphas(pit: PIT, name: str, value: float) -> None:
    with torch.no_grad():
        pit.model.get_submodule(name).out_mask.alpha.fill_(value)


def fake_latency(g) -> float:
    per_element = 3e-6 if g.op == "add" else 1e-6 * g.c_in * g.kernel
    return per_element * g.c_out * g.length + 1e-5


def test_each_temporal_block_is_a_removable_branch(pit):
    assert [(b.head, b.tail) for b in pit.branches()] == [
        (head, head.replace("net.0", "net.4")) for head in HEADS]
    assert len({b.add for b in pit.branches()}) == 3
    spaces = {s.name: s for s in pit.search_space()}
    assert spaces["blocks.1.net.0"].empty_out and not spaces["blocks.1.net.0"].empty_in
    assert spaces["blocks.1.net.4"].empty_in and not spaces["blocks.1.net.4"].empty_out
    assert not spaces["output"].empty_in


def test_by_default_depth_is_searched_wherever_the_seed_allows():
    assert len(PIT(seed(), torch.zeros(1, 2, LENGTH)).branches()) == 3
    plain = nn.Sequential(nn.Conv1d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv1d(8, 3, 1))
    assert PIT(plain, torch.zeros(1, 2, LENGTH)).branches() == []
    no_channels = PIT(seed(), torch.zeros(1, 2, LENGTH), search=["dilation", "rf"])
    assert no_channels.branches() == []


def test_without_drop_blocks_a_group_keeps_its_strongest_channel():
    pit = PIT(seed(), torch.zeros(1, 2, LENGTH), drop_blocks=False)
    set_alphas(pit, "blocks.1.net.0", 0.1)
    assert pit.branches() == [] and pit.removed_branches() == []
    assert {a.name: a.out_channels for a in pit.arch()}["blocks.1.net.0"] == 1


@pytest.mark.parametrize("emptied", [["blocks.1.net.0"], ["blocks.0.net.0", "blocks.2.net.0"]])
def test_an_emptied_block_is_removed_and_the_export_stays_exact(pit, emptied):
    for name in emptied:
        set_alphas(pit, name, 0.1)
    pit.eval()
    assert [b.head for b in pit.removed_branches()] == emptied
    exported = pit.export().eval()
    x = torch.randn(4, 2, LENGTH, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(pit(x), exported(x), atol=1e-12)
    gone = [name.replace(".net.0", ".net") for name in emptied]
    assert not any(name.startswith(prefix) for name, _ in exported.named_modules()
                   for prefix in gone)
    arch = {a.name: a for a in pit.arch()}
    for head in emptied:
        tail = arch[head.replace("net.0", "net.4")]
        assert arch[head].removed and tail.removed and arch[head].params == tail.params == 0
    assert pit.exact_costs()["params"] == sum(p.numel() for p in exported.parameters())
    assert len(pit.add_arch()) == 3 - len(emptied)


def test_a_removed_block_outputs_zero_while_training_too(pit):
    """The tail's bias is gated: in the search and fine-tune forward the branch adds 0."""
    set_alphas(pit, "blocks.1.net.0", 0.1)
    with torch.no_grad():
        pit.model.get_submodule("blocks.1.net.4").conv.bias.fill_(5.0)
    pit.train()
    exported = pit.export().train()
    x = torch.randn(2, 2, LENGTH, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(pit(x), exported(x), atol=1e-12)


def test_drop_blocks_needs_channels_and_a_residual_branch():
    with pytest.raises(PITError, match="needs 'channels'"):
        PIT(seed(), torch.zeros(1, 2, LENGTH), search=["dilation", "rf"], drop_blocks=True)
    plain = nn.Sequential(nn.Conv1d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv1d(8, 3, 1))
    with pytest.raises(PITError, match="Sequential has no residual branch"):
        PIT(plain, torch.zeros(1, 2, LENGTH), drop_blocks=True)


@pytest.fixture
def table(tmp_path, pit):
    meta = TableMeta(board="fake", firmware_version="1.0", clock_hz=1, ticks_per_second=1,
                     timer="cycles", seconds_per_tick=1.0)
    table = LatencyTable(tmp_path / "t.csv", meta)
    geometries = enumerate_geometries(pit.search_space(), grid=ChannelGrid(STEP),
                                      adds=pit.residual_adds())
    assert all(g.c_in and g.c_out for g in geometries)  # nothing to measure for "removed"
    for g in geometries:
        table.add(g, {"status": "ok", "latency_s": fake_latency(g)}, save=False)
    return table


def test_a_removed_block_costs_nothing_and_the_soft_cost_reaches_zero(pit, table):
    cost = TableCost(table, pit.search_space(), channel_step=STEP)
    pit.set_costs({"latency": cost})
    set_alphas(pit, "blocks.1.net.0", 0.0)
    pit.cost_view = "soft"
    kept = [a for a in pit.arch() if not a.removed]
    adds = pit.add_arch()
    exact = sum(cost.exact(a) for a in kept) + sum(
        fake_latency(add_geometry(a.channels, a.length)) for a in adds)
    assert pit.exact_costs()["latency"] == pytest.approx(exact)
    # Every gate at 0 or 1 sits on the grid: the expected cost is the exact one.
    assert float(pit.costs()["latency"].detach()) == pytest.approx(exact, rel=1e-9)


def test_emptying_a_block_is_pushed_by_its_add_too(pit, table):
    """Below one expected channel the head's gates also carry the add's cost (its
    presence), and the gradient matches finite differences."""
    cost = TableCost(table, pit.search_space(), channel_step=STEP)
    pit.set_costs({"latency": cost})
    set_alphas(pit, "blocks.1.net.0", 0.1)
    alpha = next(pit.mask_parameters("channels"))
    mask = pit.model.get_submodule("blocks.1.net.0").out_mask
    start = mask._packed[1]

    def total() -> torch.Tensor:
        return pit.costs()["latency"]

    grad = torch.autograd.grad(total(), alpha)[0]
    assert grad[start].item() == pytest.approx(central_difference(total, alpha, start),
                                               rel=1e-4)
    add = fake_latency(add_geometry(8, LENGTH))
    assert grad[start].item() > add  # the add alone would be worth this much per channel


def test_the_board_lowers_a_network_with_removed_blocks(pit):
    """The ReLU after a removed block's add lands on the previous block's ReLU output:
    applied twice is applied once, and the board's keys are the cost's."""
    set_alphas(pit, "blocks.1.net.0", 0.1)
    exported = pit.export().eval().float()
    lowered = [g for _, g in network_geometries(exported, torch.zeros(1, 2, LENGTH))]
    assert [g for g in lowered if g.op == "add"] == [
        add_geometry(a.channels, a.length) for a in pit.add_arch()]
    assert sum(g.op == "conv1d" for g in lowered) == sum(not a.removed for a in pit.arch())


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None
                    or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_a_network_with_removed_blocks_runs_bit_exact_on_the_emulated_board(pit):
    from hw_profiler import api

    set_alphas(pit, "blocks.0.net.0", 0.1)
    set_alphas(pit, "blocks.2.net.0", 0.1)
    exported = pit.export().eval().float()
    calib = torch.randn(4, 2, LENGTH)
    with api.open_board("qemu_stm32f4") as board:
        result = api.validate(exported, calib, board, inputs=calib[:2])
    assert result.ok and result.max_diff_lsb == 0, result.report()


def test_reports_name_a_removed_layer(pit):
    from pit_lightning.report.architecture import architecture_rows

    set_alphas(pit, "blocks.1.net.0", 0.1)
    seed_layers = [a.to_dict() for a in pit.seed_arch()]
    found = [a.to_dict() for a in pit.arch()]
    assert [layer["removed"] for layer in found].count(True) == 2
    rows = {row[0]: row[1:] for row in architecture_rows({"seed": seed_layers, "found": found})}
    assert rows["blocks.1.net.4"][1] == "removed" and rows["blocks.2.net.4"][1] != "removed"
