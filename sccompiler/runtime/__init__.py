"""Execution of compiled SC netlists: the cycle-accurate runtime (:mod:`.engine`) and the design
reference it converges to as L grows (:mod:`.golden`)."""

from .engine import LayerRun, Runtime, sng_values
from .golden import golden_forward

__all__ = ["LayerRun", "Runtime", "golden_forward", "sng_values"]
