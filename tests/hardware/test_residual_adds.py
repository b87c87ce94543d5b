"""Residual adds in the latency cost: found in the graph, keyed as the board lowers them,
charged exactly when exported and differentiably while searching (no board needed)."""

from __future__ import annotations

import pytest
import torch
from nas.helpers import central_difference

from hw_profiler.deploy import network_geometries
from hw_profiler.table import ChannelGrid, LatencyTable, TableMeta
from pit_lightning.cost import ResidualAdd
from pit_lightning.hardware import TableCost, enumerate_geometries
from pit_lightning.hardware.space import add_geometry
from pit_lightning.nas import PIT
from pit_lightning.seeds import ResTCN

STEP = 4
LENGTH = 20


def fake_latency(g) -> float:
    """Adds cost per element, like the board's; convs per MAC."""
    per_element = 3e-6 if g.op == "add" else 1e-6 * g.c_in * g.kernel
    return per_element * g.c_out * g.length + 1e-5


@pytest.fixture
def pit():
    torch.manual_seed(0)
    seed = ResTCN(in_channels=2, out_channels=3, levels=2, channels=8, kernel_size=3,
                  dropout=0.0)
    return PIT(seed, torch.zeros(1, 2, LENGTH), cost=None).double()


@pytest.fixture
def table(tmp_path, pit):
    meta = TableMeta(board="fake", firmware_version="1.0", clock_hz=1, ticks_per_second=1,
                     timer="cycles", seconds_per_tick=1.0)
    table = LatencyTable(tmp_path / "t.csv", meta)
    for g in enumerate_geometries(pit.search_space(), grid=ChannelGrid(STEP),
                                  adds=pit.residual_adds()):
        table.add(g, {"status": "ok", "latency_s": fake_latency(g)}, save=False)
    return table


def test_the_adds_of_each_block_are_found_at_the_seed_width(pit):
    assert [(a.channels, a.length) for a in pit.residual_adds()] == [(8, LENGTH)] * 2
    assert pit.add_arch() == pit.residual_adds()


def test_an_exported_network_lowers_its_adds_to_the_keys_the_cost_reads(pit):
    """The table entry the search charges is the one the board's prediction reads."""
    with torch.no_grad():
        # The residual stream (one group through both blocks): 5 of 8 channels.
        pit.model.get_submodule("blocks.1.net.4").out_mask.alpha[3:6] = 0.0
    kept = pit.add_arch()
    assert [a.channels for a in kept] == [5, 5]
    lowered = [g for _, g in network_geometries(pit.export().eval().float(),
                                                  torch.zeros(1, 2, LENGTH))
               if g.op == "add"]
    assert lowered == [add_geometry(a.channels, a.length) for a in kept]


def test_exact_cost_counts_the_adds_and_the_soft_cost_agrees_on_the_grid(pit, table):
    cost = TableCost(table, pit.search_space(), channel_step=STEP)
    pit.set_costs({"latency": cost})
    with torch.no_grad():
        pit.model.get_submodule("blocks.0.net.4").out_mask.alpha[4:] = 0.0  # 4: on the grid
    convs = sum(cost.exact(layer) for layer in pit.arch())
    adds = sum(fake_latency(add_geometry(a.channels, a.length)) for a in pit.add_arch())
    assert [a.channels for a in pit.add_arch()] == [4, 4]
    assert pit.exact_costs()["latency"] == pytest.approx(convs + adds)
    assert float(pit.costs()["latency"].detach()) == pytest.approx(convs + adds, rel=1e-9)
    seed = sum(fake_latency(add_geometry(8, LENGTH)) for _ in range(2))
    assert pit.seed_costs()["latency"] > seed > 0


def test_the_adds_push_on_the_residual_channel_gates(pit, table):
    """The gradient of the adds' cost reaches the gates of the stream they add, and
    matches finite differences of the interpolated table."""
    cost = TableCost(table, pit.search_space(), channel_step=STEP)
    alpha = next(pit.mask_parameters("channels"))
    with torch.no_grad():
        alpha.uniform_(0.2, 0.8, generator=torch.Generator().manual_seed(3))

    def adds_cost() -> torch.Tensor:
        network = pit.soft_network()
        return cost.soft_adds(pit._add_channels(network.out_channels), pit.residual_adds())

    grad = torch.autograd.grad(adds_cost(), alpha)[0]
    moved = grad.nonzero().flatten()
    assert len(moved) == 8  # the stream's gates (both adds), none of the inner convs'
    assert bool((grad[moved] > 0).all())
    for index in moved[:4].tolist():
        assert grad[index].item() == pytest.approx(
            central_difference(adds_cost, alpha, index), rel=1e-4)


def test_weights_only_costs_leave_the_adds_free(pit):
    pit.set_costs("params")
    assert pit.exact_costs()["params"] == sum(layer.params for layer in pit.arch())
    zero = ResidualAdd("x", 8, LENGTH)
    assert float(pit.cost_models["params"].soft_adds(torch.ones(1), [zero])) == 0.0
