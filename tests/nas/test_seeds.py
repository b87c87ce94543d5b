"""ResTCN builds both the undilated seed and the hand-designed dilated network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pit_lightning.cost import conv_arch
from pit_lightning.nas import PIT
from pit_lightning.seeds import ResTCN


def _convs(model: nn.Module) -> list[tuple[int, int]]:
    return [(m.kernel_size[0], m.dilation[0]) for m in model.modules()
            if isinstance(m, nn.Conv1d) and m.kernel_size[0] > 1]


def test_dilations_build_the_classic_network_with_the_seeds_receptive_field():
    seed = ResTCN(1, 3, levels=3, channels=8, kernel_size=3)
    classic = ResTCN(1, 3, levels=3, channels=8, kernel_size=3, dilations=[1, 2, 4])
    assert _convs(seed) == [(3, 1), (3, 1), (5, 1), (5, 1), (9, 1), (9, 1)]
    assert _convs(classic) == [(3, 1), (3, 1), (3, 2), (3, 2), (3, 4), (3, 4)]
    rf_seed, rf_classic = (sum((k - 1) * d for k, d in _convs(m)) + 1 for m in (seed, classic))
    assert rf_seed == rf_classic == 29
    x = torch.randn(2, 1, 40)
    assert classic(x).shape == (2, 3, 40)
    # Causal: the output at t does not see inputs after t.
    y = classic.eval()(x)
    x2 = x.clone()
    x2[:, :, 30:] = 0
    torch.testing.assert_close(classic(x2)[:, :, :30], y[:, :, :30])


def test_dilations_must_match_the_levels():
    with pytest.raises(ValueError, match="one positive dilation per level"):
        ResTCN(levels=3, dilations=[1, 2])
    with pytest.raises(ValueError, match="one positive dilation per level"):
        ResTCN(levels=2, dilations=[1, 0])


def test_conv_arch_of_a_plain_network_counts_like_a_search_does():
    seed = ResTCN(levels=2, channels=8, kernel_size=3)
    x = torch.zeros(1, 88, 20)
    plain = conv_arch(seed, x)
    searched = PIT(seed, x).arch()
    assert [(a.name, a.params, a.macs) for a in plain] == \
        [(a.name, a.params, a.macs) for a in searched]
    classic = conv_arch(ResTCN(levels=2, channels=8, kernel_size=3, dilations=[1, 2]), x)
    assert [a.dilation for a in classic if a.kernel_size > 1] == [1, 1, 2, 2]
    assert [a.receptive_field for a in classic if a.kernel_size > 1] == [3, 3, 5, 5]
