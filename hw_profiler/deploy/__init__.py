"""Deploying exported networks, one stage per module, each importing only earlier ones:

1. :mod:`~hw_profiler.deploy.lower`: torch.fx graph -> :class:`GraphIR` (float, BN folded)
2. :mod:`~hw_profiler.deploy.quantize`: :class:`GraphIR` -> :class:`QuantModel` (int8)
3. :mod:`~hw_profiler.deploy.serialize`: :class:`QuantModel` -> the firmware's model image
4. :mod:`~hw_profiler.deploy.run`: load the image on a board, RUN inputs, time them;
   :mod:`~hw_profiler.deploy.compare`: the same image in numpy, against the board.
"""

from hw_profiler.deploy.lower import GraphIR, lower, network_geometries
from hw_profiler.deploy.quantize import QuantModel, quantize_network
from hw_profiler.deploy.serialize import to_image

__all__ = ["GraphIR", "QuantModel", "lower", "network_geometries", "quantize_network", "to_image"]
