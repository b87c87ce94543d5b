"""Pruning in Time (PIT) for temporal convolutional networks, as a Lightning plugin."""

from .cost import CostModel, LayerArch, LayerSpace, MACsCost, ParamsCost, SoftLayer
from .nas import PIT, PITConv1d, PITError

__all__ = [
    "PIT", "CostModel", "LayerArch", "LayerSpace", "MACsCost", "PITConv1d", "PITError",
    "ParamsCost", "SoftLayer",
]
