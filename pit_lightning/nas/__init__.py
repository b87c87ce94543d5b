"""The PIT search core: masked layers, seed conversion and export."""

from .errors import PITError, UnsearchedLayerWarning
from .layer import PITConv1d
from .masks import ChannelMask, DilationMask, ReceptiveFieldMask
from .pit import PIT

__all__ = [
    "PIT", "ChannelMask", "DilationMask", "PITConv1d", "PITError", "ReceptiveFieldMask",
    "UnsearchedLayerWarning",
]
