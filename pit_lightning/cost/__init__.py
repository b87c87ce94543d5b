"""Cost models for the PIT regularizer and the layer records they read."""

from .geometry import LayerArch, LayerSpace, ResidualAdd, SoftLayer, SoftNetwork, conv_arch
from .models import BUILTIN_COSTS, CostModel, MACsCost, ParamsCost, resolve_costs

__all__ = [
    "BUILTIN_COSTS", "CostModel", "LayerArch", "LayerSpace", "MACsCost", "ParamsCost",
    "ResidualAdd", "SoftLayer", "SoftNetwork", "conv_arch", "resolve_costs",
]
