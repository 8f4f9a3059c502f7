"""The pass contract, the registry and stage records.

A pass (:class:`Pass`) is ``run(state) -> None``: it reads the fields of the
:class:`CompileState` that the passes named in ``requires`` produced, writes its own fields (a
new netlist, never a mutated one: :class:`~sccompiler.ir.sc.SCNetlist` is frozen) and reports
into ``state.info[<its topic>]``.  It does one thing, is deterministic given the state and the
config, and raises a :class:`~sccompiler.errors.SCCompilerError` subclass for user errors.
An ``optional`` pass may be disabled by name (ablations); its absence must leave a valid design.
A pass with ``run=None`` is a *driver step*: a name in the flow that the compile driver
(:mod:`sccompiler.driver`) carries out around the passes (the stream-length search).

After every pass the driver records a :class:`StageRecord`: the pass name, its wall time and a
JSON snapshot of the IR at that point (the SC netlist once it exists, before that the model
summary and the plans).
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
from ..lowering import FoldedRecurrent, LayerPlanT, plan_json


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
    progress: Callable[[str], None] | None = None
    #: calibrate: the inputs used (at most MAX_CALIBRATION) and the quantized reference's trace
    calibration_inputs: np.ndarray | None = None
    calibration_trace: dict | None = None
    #: the design reference's trace on the calibration inputs (computed once, on demand)
    design_trace: dict | None = None
    plans: dict[str, LayerPlanT] = field(default_factory=dict)          # plan_datapath
    folded: dict[str, FoldedRecurrent] = field(default_factory=dict)    # fold_batchnorm
    netlist: SCNetlist | None = None                                    # lower_layers and after
    info: dict[str, Any] = field(default_factory=dict)                  # reports, by topic
    stages: list[StageRecord] = field(default_factory=list)

    def snapshot(self) -> dict:
        if self.netlist is not None:
            return self.netlist.to_json()
        return {"format": "sccompiler-plan", "model": self.model.name,
                "layers": [{"name": lay.name, "kind": lay.kind} for lay in self.model.layers],
                "plan": {name: plan_json(p) for name, p in self.plans.items()}}


@dataclass(frozen=True)
class Pass:
    """A named transformation of the compile state (``run=None``: a driver step)."""

    name: str
    run: Callable[[CompileState], None] | None
    description: str
    requires: tuple[str, ...] = ()
    optional: bool = False


PASSES: dict[str, Pass] = {}


def register_pass(name: str, *, description: str, requires: Iterable[str] = (), optional: bool = False):
    """Decorator registering ``fn(state) -> None`` as pass ``name``."""
    def wrap(fn: Callable[[CompileState], None]) -> Callable[[CompileState], None]:
        register(Pass(name, fn, description, tuple(requires), optional))
        return fn
    return wrap


def register(p: Pass) -> None:
    if p.name in PASSES:
        raise ConfigError(f"pass {p.name!r} is registered twice")
    PASSES[p.name] = p


def check_flow(flow: str, names: tuple[str, ...], disable: Iterable[str]) -> list[tuple[Pass, bool]]:
    """``[(pass, enabled)]`` of the flow ``names``; validates the disable list and requirements."""
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


def run_passes(state: CompileState, steps: list[tuple[Pass, bool]]) -> CompileState:
    """Run ``steps`` (from :func:`check_flow`) on ``state``, recording a stage after each."""
    for p, enabled in steps:
        if p.run is None:
            raise ConfigError(f"{p.name!r} is a driver step; run the flow with sccompiler.driver.run_compile")
        start = time.perf_counter()
        if enabled:
            if state.progress is not None:
                state.progress(p.name)
            p.run(state)
        state.stages.append(StageRecord(p.name, time.perf_counter() - start, not enabled, state.snapshot()))
    return state
