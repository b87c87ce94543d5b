"""Cost models for the PIT regularizer and the layer records they read."""

from .geometry import LayerArch, LayerSpace, SoftLayer, conv_arch
from .models import BUILTIN_COSTS, CostModel, MACsCost, ParamsCost, resolve_costs

__all__ = [
    "BUILTIN_COSTS", "CostModel", "LayerArch", "LayerSpace", "MACsCost", "ParamsCost",
    "SoftLayer", "conv_arch", "resolve_costs",
]
