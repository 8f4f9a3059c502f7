"""Bitstream-length scheduling: the smallest stream length L that meets a requested accuracy.

Accuracy is the deviation of the simulated model output from the quantized reference on the
calibration inputs, ``mean_abs`` (default) or ``max_abs``; the caller measures it
(:func:`search_length` takes the lowering and the measurement as functions, so the search knows
nothing of passes).  The error model is ``err(L) = a / sqrt(L) + b``: stream noise shrinks as
1/sqrt(L) (binomial spread of every counter), ``b`` is the floor the design cannot go below (FSM
approximation, sign(h), SNG resolution, saturation).  It is fitted on two short simulated
lengths, the smallest candidate L with ``err(L) <= margin * target`` is predicted, and then
CHECKED by simulating at that L; if the measurement misses the target the next candidate is
simulated, and so on.  If even the longest candidate misses, :class:`SCValueError` reports the
best error reached (an impossible target is never silently accepted).

Every recurrent layer gets the same L unless the config fixes a layer's ``length``; since area
does not depend on L and latency/energy grow with it, the smallest L that meets the target is
the least-cost choice.  With ``schedule.per_layer`` each layer is then shortened on its own
while the target holds.  The result keeps the whole measured accuracy-vs-L curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

import numpy as np

from .config import ScheduleConfig
from .errors import SCValueError

Candidate = TypeVar("Candidate")
#: candidate shorter lengths tried per layer in the per-layer refinement
PER_LAYER_TRIES = 3


def fit_error_model(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares (a, b >= 0) of err = a/sqrt(L) + b over measured (L, err) points."""
    Ls = np.array([p[0] for p in points], dtype=float)
    e = np.array([p[1] for p in points], dtype=float)
    A = np.stack([1.0 / np.sqrt(Ls), np.ones_like(Ls)], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, e, rcond=None)
    if b < 0:
        b = 0.0
        a = float(np.sum(e / np.sqrt(Ls)) / np.sum(1.0 / Ls))
    if a < 0:
        a, b = 0.0, float(e.mean())
    return float(a), float(b)


@dataclass(frozen=True)
class ScheduleResult(Generic[Candidate]):
    """The chosen design and the search record (``report``: the ``schedule`` report section)."""

    chosen: Candidate
    length: int
    lengths: dict[str, int]          # per-layer refinement (empty: every layer at ``length``)
    report: dict


def search_length(sc: ScheduleConfig, target: float, lower: Callable[[int, dict[str, int]], Candidate],
                  measure: Callable[[Candidate], float], layers: list[str], *,
                  progress: Callable[[str], None] | None = None) -> ScheduleResult[Candidate]:
    """The least L (then per layer, with ``sc.per_layer``) whose measured error is <= ``target``.

    ``lower(L, per_layer)`` builds the design at L (``per_layer``: layer -> shorter L);
    ``measure(design)`` is its error; ``layers``: the recurrent layers the refinement may shorten.
    """
    cands = list(sc.lengths)
    measured: dict[int, tuple[float, Candidate]] = {}

    def at(L: int) -> float:
        if L not in measured:
            if progress is not None:
                progress(f"schedule_length: simulating L={L}")
            design = lower(L, {})
            measured[L] = (measure(design), design)
        return measured[L][0]

    def model() -> tuple[float, float]:
        return fit_error_model([(L, measured[L][0]) for L in sorted(measured)])

    for L in (cands[min(1, len(cands) - 1)], cands[min(3, len(cands) - 1)]):
        at(L)
    a, b = model()
    predicted = next((L for L in cands if a / math.sqrt(L) + b <= sc.margin * target), cands[-1])
    chosen = next((L for L in cands if L >= predicted and at(L) <= target), None)
    # the margin makes the prediction conservative: walk down while the unmargined model says a
    # shorter stream still meets the target, keeping the shortest one that measures in
    if chosen is not None:
        a, b = model()
        for L in reversed([c for c in cands if c < chosen]):
            if a / math.sqrt(L) + b > target or at(L) > target:
                break
            chosen = L
    a, b = model()
    curve = [{"length": L, "error": measured[L][0], "predicted": a / math.sqrt(L) + b} for L in sorted(measured)]
    if chosen is None:
        best_L = min(measured, key=lambda L: measured[L][0])
        if b < target and a > 0:
            need = (a / (target - b)) ** 2
            why = (f"the error model {a:.3g}/sqrt(L) + {b:.3g} needs L ~ {need:,.0f}, beyond the longest "
                   f"candidate {cands[-1]} (extend schedule.lengths)")
        else:
            why = (f"the datapath's error floor is ~{b:.3g} (FSM approximation, sign(h), saturation): change the "
                   "datapath options")
        raise SCValueError("target_error", f"{target:g} is not reachable: the best measured {sc.metric} error is "
                                           f"{measured[best_L][0]:.4g} at L={best_L}; {why}")
    err, design = measured[chosen]
    per_layer: dict[str, int] = {}
    refinements = []
    if sc.per_layer:
        # shorten one layer's stream at a time (next shorter candidates) while the measured
        # error stays within the target
        for name in layers:
            for L in list(reversed([c for c in cands if c < chosen]))[:PER_LAYER_TRIES]:
                trial = {**per_layer, name: L}
                tdesign = lower(chosen, trial)
                terr = measure(tdesign)
                refinements.append({"layer": name, "length": L, "error": terr, "accepted": terr <= target})
                if terr > target:
                    break
                per_layer, design, err = trial, tdesign, terr
    report = {"target_error": target, "metric": sc.metric, "length": chosen, "measured_error": err,
              "model": {"a": a, "b": b}, "curve": curve, "refinements": refinements,
              "note": "uniform L, then per-layer shortening; error vs the quantized reference on calibration inputs"}
    return ScheduleResult(design, chosen, per_layer, report)
