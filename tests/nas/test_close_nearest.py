"""Shutting the gates nearest their threshold until a budget is met."""

from __future__ import annotations

import math

import pytest
import torch

from pit_lightning.nas import PIT
from pit_lightning.nas.masks import ChannelMask, DilationMask, ReceptiveFieldMask

from .helpers import CausalStack, randomize_nas

INF = -math.inf


def approx(value):
    return pytest.approx(value, abs=1e-6)


def test_channel_and_dilation_margins_count_open_gates_only():
    channels = ChannelMask(4)
    with torch.no_grad():
        channels.alpha.copy_(torch.tensor([0.9, 0.3, -0.7, 0.5]))
    assert channels.margins().tolist() == [approx(0.4), INF, approx(0.2), INF]
    channels.close(2)
    assert channels.keep().tolist() == [True, False, False, False]
    dilation = DilationMask(9)
    with torch.no_grad():
        dilation.gamma.copy_(torch.tensor([1.2, 0.2, 0.8]))
    assert dilation.dilation() == 4
    dilation.close(2)
    assert dilation.dilation() == 8


def test_a_receptive_field_closes_its_oldest_tap_only():
    rf = ReceptiveFieldMask(5)
    with torch.no_grad():
        rf.beta.copy_(torch.tensor([0.1, 0.1, 0.4, 0.3]))  # theta of taps 1..4: .9 .8 .7 .3
    assert rf.receptive_field() == 4
    margins = rf.margins().tolist()
    assert margins[:2] == [INF, INF] and margins[2] == approx(0.2) and margins[3] == INF
    rf.close(2)
    assert rf.receptive_field() == 3
    assert rf.beta[3] == 0.3 and rf.beta[:2].tolist() == approx([0.1, 0.1])


def params(pit: PIT) -> float:
    return pit.exact_costs()["params"]


def test_close_nearest_shuts_gates_until_the_budget_is_met():
    pit = PIT(CausalStack(9, batchnorm=False), torch.randn(1, 3, 20))
    randomize_nas(pit, torch.Generator().manual_seed(0))
    budget = 0.6 * params(pit)
    seen: list[float] = []

    def over() -> float:
        seen.append(max(params(pit) - budget, 0.0))
        return seen[-1]

    closed = pit.close_nearest(over)
    assert closed > 0 and params(pit) <= budget
    assert seen[-1] == 0.0 and min(seen[:-1]) > 0  # it stopped once within the budget


def test_close_nearest_takes_the_smallest_margin_first():
    pit = PIT(CausalStack(9, batchnorm=False), torch.randn(1, 3, 20))
    mask = pit.model.get_submodule("first.1").out_mask
    with torch.no_grad():
        mask.alpha.copy_(torch.linspace(1.0, 0.6, len(mask.alpha)))
    full = params(pit)
    pit.close_nearest(lambda: max(params(pit) - (full - 1), 0.0))
    keep = mask.keep().tolist()
    assert keep[-1] is False and all(keep[:-1])  # the channel at 0.6 went first


def test_close_nearest_leaves_the_masks_when_no_gate_helps():
    pit = PIT(CausalStack(9, batchnorm=False), torch.randn(1, 3, 20))
    before = {n: p.detach().clone() for n, p in pit.named_parameters()}
    assert pit.close_nearest(lambda: 1.0) == 0
    for name, param in pit.named_parameters():
        assert torch.equal(param, before[name]), name
