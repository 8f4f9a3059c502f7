"""Stochastic-computing core: stream sources, primitives and the cycle-accurate simulator.

Public entry points are imported lazily (numba compiles on first use).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "simulate_fsm": "sccompiler.sim.fsm",
    "TAPS": "sccompiler.sim.sources",
    "SourceSpec": "sccompiler.sim.sources",
    "leap_matrix": "sccompiler.sim.sources",
    "lfsr_step": "sccompiler.sim.sources",
    "SourceAllocator": "sccompiler.sim.seeds",
    "scc": "sccompiler.sim.seeds",
    "check_uncorrelated": "sccompiler.sim.seeds",
    "Netlist": "sccompiler.sim.netlist",
    "Simulator": "sccompiler.sim.netlist",
    "expectation": "sccompiler.sim.netlist",
    "SimState": "sccompiler.sim.netlist",
    "SimResult": "sccompiler.sim.netlist",
    "Expectation": "sccompiler.sim.netlist",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sccompiler.sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
