"""Deploying exported networks: lowering (torch.fx), int8 quantization, the firmware's model
image, and running it on a board session."""

from hw_profiler.deploy.graph import GraphIR, lower, network_geometries
from hw_profiler.deploy.quantize import QuantModel, quantize

__all__ = ["GraphIR", "QuantModel", "lower", "network_geometries", "quantize"]
