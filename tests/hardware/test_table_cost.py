"""The table-driven cost: gradients, exactness and missing entries (no board needed)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from nas.helpers import central_difference
from torch import nn

from hw_profiler.table import ChannelGrid, LatencyTable, TableMeta
from pit_lightning.hardware import (
    MissingEntriesError,
    TableCost,
    conv_geometry,
    enumerate_geometries,
)
from pit_lightning.nas import PIT

STEP = 4


class Seed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Sequential(nn.ConstantPad1d((8, 0), 0.0), nn.Conv1d(3, 8, 9), nn.ReLU())
        self.b = nn.Sequential(nn.ConstantPad1d((4, 0), 0.0), nn.Conv1d(8, 6, 5), nn.ReLU())
        self.head = nn.Conv1d(6, 2, 1)

    def forward(self, x):
        return self.head(self.b(self.a(x)))


def fake_latency(g) -> float:
    """Not proportional to MACs: dilation pays a fixed price, like a slow kernel path."""
    return 1e-6 * (g.c_in * g.c_out * g.kernel * g.length) + 3e-5 * (g.dilation > 1) + 1e-5


def make_table(tmp_path, spaces, drop: int = 0):
    meta = TableMeta(board="fake", firmware_version="1.0", clock_hz=1, ticks_per_second=1,
                     timer="cycles", seconds_per_tick=1.0)
    table = LatencyTable(tmp_path / "t.csv", meta)
    geometries = enumerate_geometries(spaces, grid=ChannelGrid(STEP))
    for g in geometries[drop:]:
        table.add(g, {"status": "ok", "latency_s": fake_latency(g),
                      "energy_j": 2 * fake_latency(g)}, save=False)
    return table, geometries


@pytest.fixture
def pit():
    torch.manual_seed(0)
    return PIT(Seed(), torch.zeros(1, 3, 16), cost=None).double()


def set_masks(pit, gen):
    """Soft masks strictly inside (0, 1), where the clamp is the identity."""
    with torch.no_grad():
        for name, param in pit.named_parameters():
            if name.endswith(".beta"):
                param.copy_(0.01 + 0.09 * torch.rand(param.shape, generator=gen,
                                                     dtype=param.dtype))
            elif name.endswith((".gamma", ".alpha")):
                param.copy_(0.1 + 0.8 * torch.rand(param.shape, generator=gen, dtype=param.dtype))


def test_soft_cost_gradient_matches_finite_differences(tmp_path, pit):
    assert pit.cost_view == "soft"  # the expected cost: smooth inside (0, 1)
    table, _ = make_table(tmp_path, pit.search_space())
    cost = TableCost(table, pit.search_space(), channel_step=STEP)
    set_masks(pit, torch.Generator().manual_seed(1))
    params = list(pit.nas_parameters())

    def total() -> torch.Tensor:
        return torch.stack([cost.soft(layer) for layer in pit.soft_layers()]).sum()

    value = total()
    grads = torch.autograd.grad(value, params)
    for param, grad in zip(params, grads, strict=True):
        for index in range(param.numel()):
            assert grad.view(-1)[index].item() == pytest.approx(
                central_difference(total, param, index), rel=1e-4, abs=1e-9)


def test_exact_cost_is_the_sum_of_table_entries_and_soft_agrees_on_the_grid(tmp_path, pit):
    table, _ = make_table(tmp_path, pit.search_space())
    cost = TableCost(table, pit.search_space(), channel_step=STEP)
    with torch.no_grad():
        a, b = pit.model.get_submodule("a.1"), pit.model.get_submodule("b.1")
        a.dilation_mask.gamma.copy_(torch.tensor([1.0, 0.0, 1.0]))   # dilation 4
        a.out_mask.alpha.copy_(torch.tensor([1.0] * 4 + [0.0] * 4))  # 4 channels: on grid
        b.rf_mask.beta.copy_(torch.tensor([0.0, 0.0, 1.0, 0.0]))     # rf 4: taps 4
    arch = pit.arch()
    assert (arch[0].kernel_size, arch[0].dilation, arch[0].out_channels) == (3, 4, 4)
    exact = sum(cost.exact(layer) for layer in arch)
    expected = sum(fake_latency(conv_geometry(x.in_channels, x.out_channels, x.kernel_size,
                                                x.dilation, x.length)) for x in arch)
    assert exact == pytest.approx(expected)
    soft = float(torch.stack([cost.soft(layer) for layer in pit.soft_layers()]).sum())
    assert soft == pytest.approx(exact, rel=1e-9)


def test_energy_variant_reads_its_column(tmp_path, pit):
    table, _ = make_table(tmp_path, pit.search_space())
    latency = TableCost(table, pit.search_space(), channel_step=STEP)
    energy = TableCost(table, pit.search_space(), channel_step=STEP, column="energy_j")
    arch = pit.arch()
    assert sum(energy.exact(x) for x in arch) == pytest.approx(
        2 * sum(latency.exact(x) for x in arch))


def test_missing_entries_without_a_board_are_listed(tmp_path, pit):
    table, geometries = make_table(tmp_path, pit.search_space(), drop=3)
    with pytest.raises(MissingEntriesError, match="3 layer geometries are not in") as info:
        TableCost(table, pit.search_space(), channel_step=STEP)
    assert info.value.missing == geometries[:3]
    assert str(geometries[0]) in str(info.value)


def test_missing_entries_are_measured_when_a_board_is_attached(tmp_path, pit):
    table, geometries = make_table(tmp_path, pit.search_space(), drop=3)
    measured = []

    def measure(missing):
        measured.extend(missing)
        for g in missing:
            table.add(g, {"status": "ok", "latency_s": fake_latency(g)}, save=False)

    cost = TableCost(table, pit.search_space(), channel_step=STEP, measure=measure)
    assert measured == geometries[:3]
    # An off-grid binarized channel count is measured on demand too.
    with torch.no_grad():
        pit.model.get_submodule("a.1").out_mask.alpha.copy_(torch.tensor([1.0] * 5 + [0.0] * 3))
    cost.exact(pit.arch()[0])
    assert measured[-1].c_out == 5


def test_missing_entries_of_a_whole_network_are_measured_in_one_batch(tmp_path, pit):
    table, geometries = make_table(tmp_path, pit.search_space())
    calls = []

    def measure(missing):
        calls.append(list(missing))
        for g in missing:
            table.add(g, {"status": "ok", "latency_s": fake_latency(g)}, save=False)

    cost = TableCost(table, measure=measure)
    off_grid = [replace(g, c_out=g.c_out + 100) for g in geometries[:4]]  # not in the table
    values = cost.entries([*off_grid, off_grid[0]])
    assert calls == [off_grid]  # one call, duplicates measured once
    assert values == [fake_latency(g) for g in [*off_grid, off_grid[0]]]


def test_exact_cost_of_an_architecture_measures_its_missing_layers_in_one_batch(tmp_path, pit):
    """One board session and one progress bar per architecture, not one per layer."""
    table = LatencyTable(tmp_path / "t.csv", make_table(tmp_path, [])[0].meta)
    calls = []

    def measure(missing):
        calls.append(list(missing))
        for g in missing:
            table.add(g, {"status": "ok", "latency_s": fake_latency(g)}, save=False)

    pit.set_costs({"latency": TableCost(table, measure=measure)})
    arch = pit.arch()
    total = pit.exact_costs()["latency"]
    assert len(calls) == 1 and len(calls[0]) == len(arch) > 1
    assert total == pytest.approx(sum(fake_latency(g) for g in calls[0]))


def test_binarized_view_charges_the_current_architecture(tmp_path, pit):
    table, _ = make_table(tmp_path, pit.search_space())
    cost = TableCost(table, pit.search_space(), channel_step=STEP)
    set_masks(pit, torch.Generator().manual_seed(2))
    pit.cost_view = "binarized"
    layers = pit.soft_layers()
    soft = torch.stack([cost.soft(layer) for layer in layers]).sum()
    # Off-grid channel counts interpolate between grid entries, like the soft view.
    on_grid = all(x.out_channels % STEP == 0 or x.out_channels == 1 for x in pit.arch())
    if on_grid:
        assert float(soft) == pytest.approx(sum(cost.exact(x) for x in pit.arch()))
    grads = torch.autograd.grad(soft, list(pit.nas_parameters()), allow_unused=True)
    assert any(g is not None and bool(g.abs().sum() > 0) for g in grads)
