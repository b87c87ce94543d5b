"""Small seed networks and utilities shared by the PIT core tests."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pit_lightning.nas import PIT


def central_difference(f: Callable[[], torch.Tensor], param: torch.Tensor, index: int,
                       eps: float = 1e-6) -> float:
    """d f / d param[index] (flat index) by central differences; ``param`` is restored."""
    flat = param.view(-1)
    with torch.no_grad():
        flat[index] += eps
        up = float(f())
        flat[index] -= 2 * eps
        down = float(f())
        flat[index] += eps
    return (up - down) / (2 * eps)


def randomize_nas(pit: PIT, generator: torch.Generator) -> None:
    """Random mask parameters spanning kept and pruned values."""
    with torch.no_grad():
        for name, param in pit.named_parameters():
            if name.endswith(".beta"):
                param.copy_(torch.rand(param.shape, generator=generator) * 0.4)
            elif name.endswith((".gamma", ".alpha")):
                param.copy_(torch.rand(param.shape, generator=generator))


def perturb_batchnorm(model: nn.Module, generator: torch.Generator) -> None:
    """Non-default running statistics and affine terms."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm1d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator))
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.randn(n, generator=generator))
                module.bias.copy_(torch.randn(n, generator=generator))


class CausalStack(nn.Module):
    """Two causal convs (padding module + valid conv), optional BatchNorm, a residual."""

    def __init__(self, kernel_size: int, batchnorm: bool, channels: int = 6) -> None:
        super().__init__()
        def block(c_in: int) -> nn.Sequential:
            layers = [nn.ConstantPad1d((kernel_size - 1, 0), 0.0),
                      nn.Conv1d(c_in, channels, kernel_size)]
            if batchnorm:
                layers.append(nn.BatchNorm1d(channels))
            return nn.Sequential(*layers, nn.ReLU())
        self.first = block(3)
        self.second = block(channels)
        self.head = nn.Conv1d(channels, 2, 1)

    def forward(self, x):
        y = self.first(x)
        return self.head(self.second(y) + y)


class Concat(nn.Module):
    """Two branches concatenated on channels, then a conv over the concatenation."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv1d(3, 4, 5, padding=4)
        self.b = nn.Conv1d(3, 5, 3, padding=2)
        self.mix = nn.Conv1d(9, 6, 3, padding=2)
        self.head = nn.Conv1d(6, 2, 1)

    def forward(self, x):
        a = self.a(x)[:, :, :-4]
        b = self.b(x)[:, :, :-2]
        y = torch.relu(torch.cat([a, b], dim=1))
        return self.head(torch.relu(self.mix(y)[..., :-2]))
