"""Execution of compiled SC netlists: the cycle-accurate reference runtime (:mod:`.engine`, the
oracle), the packed runtime bit-exact with it (:mod:`.packed`) and the design reference both
converge to as L grows (:mod:`.golden`)."""

from .engine import LayerRun, Runtime, sng_values
from .golden import golden_forward
from .packed import PackedRuntime

__all__ = ["LayerRun", "PackedRuntime", "Runtime", "golden_forward", "sng_values"]
