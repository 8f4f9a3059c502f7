"""Compiler passes over the SC netlist IR: the contract and registry (:mod:`.registry`), one
module per pass, and the flows (:mod:`.flows`).

Style of hls4ml's optimizer passes and FINN's build steps: a pass does one thing, is registered
by name, a flow is a named list of passes, and passes named in ``disable`` are skipped (only
optional passes may be disabled: disabling a required one, or one another enabled pass requires,
is a :class:`~sccompiler.errors.ConfigError`).  The compile driver (:mod:`sccompiler.driver`)
runs a flow.
"""

from __future__ import annotations

from ..errors import ConfigError
from .flows import FLOWS, LOWER, SCHEDULE
from .registry import PASSES, CompileState, Pass, StageRecord, check_flow, register_pass, run_passes

__all__ = ["CompileState", "FLOWS", "LOWER", "PASSES", "Pass", "SCHEDULE", "StageRecord", "list_passes",
           "register_pass", "resolve_flow", "run_passes"]


def resolve_flow(flow: str, disable=()) -> list[tuple[Pass, bool]]:
    """``[(pass, enabled)]`` of a flow; validates the names and the disable list."""
    if flow not in FLOWS:
        raise ConfigError(f"unknown flow {flow!r}; known flows: {', '.join(sorted(FLOWS))}")
    return check_flow(flow, FLOWS[flow], disable)


def list_passes() -> list[dict]:
    """Every registered pass, in the order of the default flow (then any others)."""
    order = list(FLOWS["default"]) + sorted(set(PASSES) - set(FLOWS["default"]))
    return [{"name": p.name, "description": p.description, "requires": list(p.requires), "optional": p.optional}
            for p in (PASSES[n] for n in order)]
