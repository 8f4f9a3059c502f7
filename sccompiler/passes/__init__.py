"""Compiler passes over the SC netlist IR: a registry, named flows, ablations by name.

Style of hls4ml's optimizer flows and FINN's build steps: a pass does one thing
(:class:`Pass`: ``name``, ``requires``, ``optional``, ``run(state)``), passes are registered by
name (:func:`register_pass`), a flow is a named list of passes (:data:`FLOWS`), and
:func:`run_flow` runs a flow on a :class:`CompileState`, skipping the passes named in
``disable`` (only optional passes may be disabled: disabling a required one, or one another
enabled pass requires, is a :class:`~sccompiler.errors.ConfigError`).  After every pass the
state records a :class:`StageRecord`: the pass name, its wall time and a JSON snapshot of the
IR at that point (the SC netlist once it exists, before that the model summary and the plan).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from ..config import CompileConfig
from ..errors import ConfigError
from ..ir.model import Model
from ..ir.sc import SCNetlist


@dataclass
class StageRecord:
    """One executed (or skipped) pass: its name, seconds and IR snapshot."""

    name: str
    seconds: float
    skipped: bool
    snapshot: dict

    def to_json(self) -> dict:
        return {"pass": self.name, "seconds": self.seconds, "skipped": self.skipped, "ir": self.snapshot}


@dataclass
class CompileState:
    """Everything the passes read and write (mutable, owned by one compile)."""

    model: Model
    config: CompileConfig
    calibration: np.ndarray | None = None
    plan: dict[str, dict] = field(default_factory=dict)        # layer name -> datapath decisions
    netlist: SCNetlist | None = None
    info: dict[str, Any] = field(default_factory=dict)         # reports written by passes
    stages: list[StageRecord] = field(default_factory=list)
    progress: Callable[[str], None] | None = None

    def snapshot(self) -> dict:
        if self.netlist is not None:
            return self.netlist.to_json()
        return {"format": "sccompiler-plan", "model": self.model.name,
                "layers": [{"name": lay.name, "kind": lay.kind} for lay in self.model.layers],
                "plan": _plain(self.plan)}


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items() if not isinstance(v, np.ndarray)}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


@dataclass(frozen=True)
class Pass:
    """A named transformation of the compile state."""

    name: str
    run: Callable[[CompileState], None]
    description: str
    requires: tuple[str, ...] = ()
    optional: bool = False


PASSES: dict[str, Pass] = {}
FLOWS: dict[str, tuple[str, ...]] = {}


def register_pass(name: str, *, description: str, requires: Iterable[str] = (), optional: bool = False):
    """Decorator registering ``fn(state) -> None`` as pass ``name``."""
    def wrap(fn: Callable[[CompileState], None]) -> Callable[[CompileState], None]:
        if name in PASSES:
            raise ConfigError(f"pass {name!r} is registered twice")
        PASSES[name] = Pass(name, fn, description, tuple(requires), optional)
        return fn
    return wrap


def register_flow(name: str, passes: Iterable[str]) -> None:
    FLOWS[name] = tuple(passes)


def resolve_flow(flow: str, disable: Iterable[str] = ()) -> list[tuple[Pass, bool]]:
    """``[(pass, enabled)]`` of a flow; validates the names and the disable list."""
    _load_builtin()
    if flow not in FLOWS:
        raise ConfigError(f"unknown flow {flow!r}; known flows: {', '.join(sorted(FLOWS))}")
    names = FLOWS[flow]
    disabled = set(disable)
    unknown = sorted(disabled - set(PASSES))
    if unknown:
        raise ConfigError(f"cannot disable unknown pass(es) {', '.join(map(repr, unknown))}; "
                          f"known passes: {', '.join(sorted(PASSES))}")
    for name in sorted(disabled & set(names)):
        if not PASSES[name].optional:
            raise ConfigError(f"pass {name!r} is required by the compiler and cannot be disabled "
                              f"(optional passes: {', '.join(sorted(p for p in names if PASSES[p].optional))})")
    enabled = [n for n in names if n not in disabled]
    for i, n in enumerate(enabled):
        missing = [r for r in PASSES[n].requires if r not in enabled[:i]]
        if missing:
            raise ConfigError(f"pass {n!r} requires {', '.join(map(repr, missing))} to run before it in flow {flow!r}")
    return [(PASSES[n], n not in disabled) for n in names]


def run_flow(state: CompileState, flow: str | None = None, disable: Iterable[str] | None = None) -> CompileState:
    """Run a flow on ``state`` (default: the config's flow and disable list)."""
    flow = state.config.flow if flow is None else flow
    disable = state.config.disable if disable is None else tuple(disable)
    for p, enabled in resolve_flow(flow, disable):
        start = time.perf_counter()
        if enabled:
            if state.progress is not None:
                state.progress(p.name)
            p.run(state)
        state.stages.append(StageRecord(p.name, time.perf_counter() - start, not enabled, state.snapshot()))
    return state


def list_passes() -> list[dict]:
    _load_builtin()
    return [{"name": p.name, "description": p.description, "requires": list(p.requires), "optional": p.optional}
            for p in PASSES.values()]


def _load_builtin() -> None:
    from . import core  # noqa: F401,PLC0415  (registers the built-in passes and flows)


__all__ = ["CompileState", "FLOWS", "PASSES", "Pass", "StageRecord", "list_passes", "register_flow",
           "register_pass", "resolve_flow", "run_flow"]
