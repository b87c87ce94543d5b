"""Unsupported seeds and options fail or warn with messages that name the culprit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pit_lightning.nas import PIT, PITError, UnsearchedLayerWarning

from .helpers import CausalStack


class FunctionalConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3)
        self.mixer = Mixer()

    def forward(self, x):
        return self.mixer(self.conv(x))


class Mixer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(2, 4, 3))

    def forward(self, x):
        return F.conv1d(x, self.weight)


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 3, 3)

    def forward(self, x):
        if x.sum() > 0:
            return self.conv(x)
        return x


def test_functional_conv_is_an_error_naming_the_layer():
    with pytest.raises(PITError, match=r"functional conv1d at `mixer`"):
        PIT(FunctionalConv(), torch.randn(1, 3, 10))


def test_untraceable_seed_is_an_error_naming_the_model():
    with pytest.raises(PITError, match=r"could not trace DataDependent"):
        PIT(DataDependent(), torch.randn(1, 3, 10))


def test_strided_conv_is_left_unsearched_with_a_warning():
    seed = nn.Sequential(nn.Conv1d(3, 4, 3, padding=2), nn.Conv1d(4, 2, 3, stride=2))
    with pytest.warns(UnsearchedLayerWarning, match=r"Conv1d `1` is left unsearched: stride 2"):
        pit = PIT(seed, torch.randn(1, 3, 10))
    assert [s.name for s in pit.search_space()] == ["0"]


def test_excluding_layers_by_name_and_type():
    x = torch.randn(1, 3, 10)
    pit = PIT(CausalStack(5, batchnorm=False), x, exclude=("second",))
    assert [s.name for s in pit.search_space()] == ["first.1", "head"]
    with pytest.raises(PITError, match=r"no searchable nn\.Conv1d"):
        PIT(CausalStack(5, batchnorm=False), x, exclude=(nn.Conv1d,))


def test_unknown_search_option_and_cost():
    x = torch.randn(1, 3, 10)
    with pytest.raises(PITError, match=r"unknown search option\(s\) \['kernel'\]"):
        PIT(CausalStack(5, batchnorm=False), x, search=("kernel",))
    with pytest.raises(ValueError, match=r"unknown cost 'latency'"):
        PIT(CausalStack(5, batchnorm=False), x, cost="latency")


def test_wrong_example_input_is_an_error_with_the_shape():
    with pytest.raises(PITError, match=r"example_input of shape\(s\) \[\(1, 5, 10\)\]"):
        PIT(CausalStack(5, batchnorm=False), torch.randn(1, 5, 10))
