"""One trial of an exploration: compile one config, simulate it on the validation data, cost it.

:func:`run_trial` is what a Dask worker (or the driver itself, with one worker) runs.  It never
raises: a config the compiler refuses, a simulation that fails or any other error becomes a
``failed`` record carrying the error's one-line message, so one bad point never ends a study.
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .. import metrics
from ..config import config_from_dict
from ..cost.netlist_cost import cost_report
from ..design import compile_model
from ..errors import SCCError
from ..ir.model import Model

#: report-only passes a trial skips (they change no netlist: a rebuilt trial is the same design)
REPORT_PASSES = ("accuracy_report", "correlation_report", "cost")


@dataclass(frozen=True)
class TrialContext:
    """What every trial shares (scattered once to the workers)."""

    model: Model
    x: np.ndarray
    y: np.ndarray | None
    metric: str | None
    reference: np.ndarray
    calibration: np.ndarray


def cost_values(cost: Mapping[str, Any]) -> dict[str, float]:
    """The objectives' cost quantities of one design's :class:`~sccompiler.cost.CostReport` JSON."""
    return {"area": float(cost["area"]), "energy": float(cost["energy_per_inference_j"]),
            "latency": float(cost["latency_s"]), "flip_flops": float(cost["flip_flops"])}


def output_values(ctx: TrialContext, out: np.ndarray) -> dict[str, float]:
    """``error`` (and ``metric`` when the data has targets) of outputs ``out`` on ``ctx``'s data."""
    vals = {"error": float(np.mean(np.abs(np.asarray(out, dtype=np.float64) - ctx.reference)))}
    if ctx.y is not None and ctx.metric is not None:
        vals["metric"] = float(metrics.evaluate_metric(ctx.metric, out, ctx.y).value)
    return vals


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def run_trial(ctx: TrialContext, number: int, params: Mapping[str, Any], config: Mapping[str, Any]) -> dict:
    """Compile ``config`` (a plain config mapping), simulate it on ``ctx.x``, cost it: a record
    ``{number, params, config, state, error, values, lengths, seconds}``."""
    start = time.perf_counter()
    rec: dict[str, Any] = {"number": int(number), "params": dict(params), "config": dict(config),
                           "state": "failed", "error": None, "values": {}, "lengths": {}, "seconds": 0.0}
    try:
        cfg = config_from_dict(config)
        cfg = cfg.replace(disable=tuple(dict.fromkeys(cfg.disable + REPORT_PASSES)))
        design = compile_model(ctx.model, cfg, calibration=ctx.calibration)
        out = design.simulate(ctx.x, workers=1)
        vals = output_values(ctx, out)
        rep = cost_report(design.netlist, ctx.model, design.config, steps=int(ctx.x.shape[1]))
        vals.update(cost_values(rep["designs"][rep["sc"]]["cost"]))
        if not all(math.isfinite(v) for v in vals.values()):
            raise SCCError(f"non-finite measurement {vals}")
        rec.update(state="ok", values=vals, lengths=dict(design.lengths),
                   compile_seconds=float(design.info.get("compile_seconds", 0.0)))
    except SCCError as exc:
        rec["error"] = one_line(exc)
    except Exception as exc:  # noqa: BLE001 - a trial never ends the study; its error is recorded
        rec["error"] = one_line(exc)
        rec["traceback"] = traceback.format_exc(limit=8)
    rec["seconds"] = time.perf_counter() - start
    return rec
