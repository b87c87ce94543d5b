"""Undilated seed networks from the PIT papers' benchmarks."""

from .restcn import ResTCN, TemporalBlock, restcn_jsb, restcn_nottingham
from .temponet import TEMPONet

__all__ = ["ResTCN", "TEMPONet", "TemporalBlock", "restcn_jsb", "restcn_nottingham"]
