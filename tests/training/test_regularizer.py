"""Normalised strengths: the regularizer charges costs as fractions of the seed's."""

from __future__ import annotations

import pytest
import torch

from pit_lightning.nas import PIT
from pit_lightning.seeds import ResTCN
from pit_lightning.training import Regularizer


def test_normalised_term_is_strength_times_cost_fraction():
    reg = Regularizer(strength=0.5)
    value = reg({"params": torch.tensor(250.0)}, seed={"params": 1000.0})
    assert float(value) == pytest.approx(0.5 * 0.25)


def test_normalised_strength_means_the_same_in_any_unit():
    reg = Regularizer(strength=2.0)
    in_params = reg({"params": torch.tensor(30.0)}, seed={"params": 120.0})
    in_seconds = reg({"latency": torch.tensor(3e-3)}, seed={"latency": 12e-3})
    assert float(in_params) == pytest.approx(float(in_seconds))


def test_normalised_target_stays_in_the_costs_unit():
    reg = Regularizer(strength=1.0, target=400.0)
    seed = {"params": 1000.0}
    assert float(reg({"params": torch.tensor(390.0)}, seed)) == 0.0
    assert float(reg({"params": torch.tensor(600.0)}, seed)) == pytest.approx(0.2)


def test_normalised_costs_sum_as_fractions():
    reg = Regularizer(strength=1.0)
    value = reg({"params": torch.tensor(10.0), "macs": torch.tensor(300.0)},
                seed={"params": 100.0, "macs": 1000.0})
    assert float(value) == pytest.approx(0.1 + 0.3)


def test_normalising_needs_the_seed_cost():
    with pytest.raises(ValueError, match="seed's cost"):
        Regularizer(strength=1.0)({"params": torch.tensor(1.0)})
    with pytest.raises(ValueError, match="seed cost <= 0"):
        Regularizer(strength=1.0)({"params": torch.tensor(1.0)}, seed={"params": 0.0})
    with pytest.raises(ValueError, match="target per cost name"):
        Regularizer(strength=1.0, target=5.0)(
            {"params": torch.tensor(1.0), "macs": torch.tensor(1.0)},
            seed={"params": 2.0, "macs": 2.0})


def test_seed_costs_are_the_costs_of_the_untouched_seed():
    pit = PIT(ResTCN(levels=2, channels=8, kernel_size=3), torch.zeros(1, 88, 16),
              cost={"params": "params", "macs": "macs"})
    seed = pit.seed_costs()
    soft = pit.costs()
    for name in ("params", "macs"):
        assert seed[name] == pytest.approx(float(soft[name]))
        assert seed[name] == pytest.approx(pit.exact_costs()[name])
    with torch.no_grad():
        for param in pit.nas_parameters():
            param.fill_(0.1)
    # The masks closed; the reference does not move.
    assert pit.seed_costs() == seed
    assert pit.exact_costs()["params"] < seed["params"]


def test_target_reads_the_exact_cost_with_the_soft_gradient():
    reg = Regularizer(strength=2.0, target=400.0)
    seed = {"params": 1000.0}
    soft = torch.tensor(300.0, requires_grad=True)
    # Soft cost under the target, exported network over it: the hinge still pushes.
    value = reg({"params": soft}, seed, exact={"params": 600.0})
    value.backward()
    assert float(value) == pytest.approx(2.0 * 0.2)
    assert float(soft.grad) == pytest.approx(2.0 / 1000.0)
    soft.grad = None
    # Exported network under the target: no term and no pressure, whatever the soft cost.
    value = reg({"params": soft * 2}, seed, exact={"params": 390.0})
    value.backward()
    assert float(value) == 0.0 and float(soft.grad) == 0.0


def test_target_search_ends_with_the_exported_network_under_the_target():
    # The regularizer alone drives the masks (no task loss): with the hinge on the soft
    # cost the gates stop while still above 0.5, and the export is the whole seed.
    pit = PIT(ResTCN(levels=2, channels=8, kernel_size=3), torch.zeros(1, 88, 16))
    seed = pit.seed_costs()
    target = 0.5 * seed["params"]
    reg = Regularizer(strength=1.0, target=target)
    optimizer = torch.optim.Adam(pit.nas_parameters(), lr=0.02)
    for _ in range(300):
        optimizer.zero_grad()
        term = reg(pit.costs(), seed, exact=pit.exact_costs())
        if term.item() == 0.0:
            break
        term.backward()
        optimizer.step()
    assert pit.exact_costs()["params"] <= target


def test_excess_is_the_fraction_over_the_target():
    assert Regularizer(strength=1.0).excess({"params": 1e9}) == 0.0
    single = Regularizer(strength=1.0, target=400.0)
    assert single.excess({"params": 300.0}) == 0.0
    assert single.excess({"params": 500.0}) == pytest.approx(0.25)
    assert single.meets_target({"params": 400.0}) and not single.meets_target({"params": 401.0})
    # Per cost, each as a fraction of its own target, so seconds and params add up.
    per_cost = Regularizer(strength=1.0, target={"params": 100.0, "latency": 2e-3})
    assert per_cost.excess({"params": 150.0, "latency": 3e-3}) == pytest.approx(1.0)
    assert per_cost.excess({"params": 50.0, "latency": 3e-3}) == pytest.approx(0.5)

