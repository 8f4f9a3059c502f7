"""The compile driver: runs a flow's passes around the stream-length search.

A flow (:data:`sccompiler.passes.FLOWS`) is split at its driver step ``schedule_length``: the
passes before it build a design at one stream length (*lowering*), the passes after it measure
and cost the final design (*reports*).  Without ``target_error`` the lowering runs once.  With
it, :func:`sccompiler.schedule.search_length` asks for the design at each candidate L, and the
driver lowers a fresh state at that L with the user's flow and ``disable`` list; the chosen
state -- its netlist, plans, reports and stage snapshots -- is the design, and the report
passes then run once on it.  So every stage record describes the saved design, and a disabled
pass stays disabled at every candidate.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from .config import CompileConfig
from .cost import load_target, netlist_timing
from .errors import ConfigError, SCCError
from .passes import SCHEDULE, CompileState, StageRecord, resolve_flow, run_passes
from .reference import forward
from .runtime.packed import PackedRuntime
from .schedule import search_length


def config_at(config: CompileConfig, length: int, per_layer: dict[str, int]) -> CompileConfig:
    """``config`` at uniform stream length ``length`` with the ``per_layer`` lengths fixed."""
    cfg = config.replace(length=int(length))
    if per_layer:
        layers = dict(cfg.layers)
        for name, L in per_layer.items():
            layers[name] = dataclasses.replace(cfg.layer(name), length=int(L))
        cfg = cfg.replace(layers=tuple(layers.items()))
    return cfg


def run_compile(state: CompileState) -> CompileState:
    """Run the config's flow on ``state``; returns the state of the compiled design (a new one
    when the stream-length search chose another L)."""
    steps = resolve_flow(state.config.flow, state.config.disable)
    names = [p.name for p, _ in steps]
    cut = names.index(SCHEDULE) if SCHEDULE in names else len(steps)
    lowering, reports = steps[:cut], steps[cut + 1:]
    search = cut < len(steps) and steps[cut][1] and state.config.target_error is not None
    if state.config.target_error is not None and not search:
        why = "is disabled" if cut < len(steps) else f"is not in flow {state.config.flow!r}"
        raise ConfigError(f"target_error needs the {SCHEDULE} step, which {why}; set a length instead")
    start = time.perf_counter()
    if search:
        state = _search(state, lowering)
    else:
        run_passes(state, lowering)
    if cut < len(steps):
        seconds = time.perf_counter() - start if search else 0.0
        state.stages.append(StageRecord(SCHEDULE, seconds, not search, state.snapshot()))
    return run_passes(state, reports)


def _search(state: CompileState, lowering) -> CompileState:
    """The stream-length search (see the module docstring); returns the chosen candidate's state."""
    cfg = state.config
    sc = cfg.schedule
    x = np.asarray(state.calibration)[: sc.max_samples]
    ref = forward(state.model, x)

    def lower(length: int, per_layer: dict[str, int]) -> CompileState:
        sub = CompileState(model=state.model, config=config_at(cfg, length, per_layer),
                           calibration=state.calibration)
        return run_passes(sub, lowering)

    def measure(sub: CompileState) -> float:
        out, _ = PackedRuntime(sub.netlist).run(x)
        diff = np.abs(out - ref)
        return float(diff.mean() if sc.metric == "mean_abs" else diff.max())

    fixed = {n for n, lc in cfg.layers if lc.length is not None}
    rec = [lay.name for lay in state.model.layers if lay.kind in ("lstm", "gru") and lay.name not in fixed]
    result = search_length(sc, float(cfg.target_error), lower, measure, rec, progress=state.progress)
    chosen = result.chosen
    chosen.progress = state.progress        # candidates ran quietly; the report passes report again
    lengths = {p.name: p.length for p in chosen.netlist.layers if p.kind in ("lstm", "gru")}
    chosen.info["schedule"] = {**result.report, "lengths": lengths, "samples": int(x.shape[0]),
                               "timing": _timing(chosen, int(x.shape[1]))}
    return chosen


def _timing(state: CompileState, steps: int) -> dict:
    """The chosen design's timing as its RTL runs (:func:`sccompiler.cost.netlist_timing`)."""
    try:
        clock_mhz = float(load_target(state.config.cost_target).clock_mhz)
    except SCCError:          # a bad target is reported by the cost pass, not here
        clock_mhz = None
    return netlist_timing(state.netlist, steps=steps, clock_mhz=clock_mhz).to_json()
