"""Lightning integration: the PIT module, the phase callbacks and run artifacts.

Board measurement during training is :mod:`pit_lightning.hardware`.
"""

from .artifacts import SaveExported, architecture_record, load_network, save_network
from .gates import GateTrajectories
from .module import PHASES, PITModule
from .phases import FineTunePhase, Phase, SearchPhase, WarmupPhase, default_phases
from .progress import PhaseProgressBar
from .regularizer import Regularizer

__all__ = [
    "PHASES",
    "FineTunePhase",
    "GateTrajectories",
    "PITModule",
    "Phase",
    "PhaseProgressBar",
    "Regularizer",
    "SaveExported",
    "SearchPhase",
    "WarmupPhase",
    "architecture_record",
    "default_phases",
    "load_network",
    "save_network",
]
