"""Bitstream-length scheduling: the smallest stream length L that meets a requested accuracy.

Accuracy is the deviation of the simulated model output from the quantized reference
(:func:`sccompiler.reference.forward`) on the calibration inputs, ``mean_abs`` (default) or
``max_abs``.  The error model is ``err(L) = a / sqrt(L) + b``: stream noise shrinks as
1/sqrt(L) (binomial spread of every counter), ``b`` is the floor the design cannot go below
(FSM approximation, sign(h), SNG resolution, saturation).  It is fitted on two short simulated
lengths, the smallest candidate L with ``err(L) <= margin * target`` is predicted, and then
CHECKED by simulating at that L; if the measurement misses the target the next candidate is
simulated, and so on.  If even the longest candidate misses, :class:`SCValueError` reports the
best error reached (an impossible target is never silently accepted).

Every recurrent layer gets the same L unless the config fixes a layer's ``length``; since area
does not depend on L and latency/energy grow with it, the smallest L that meets the target is
the least-cost choice.  The report keeps the whole measured accuracy-vs-L curve.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import SCValueError


def _lower_at(state, length: int, per_layer: dict[str, int] | None = None):
    import dataclasses  # noqa: PLC0415

    from .passes import CompileState, run_flow  # noqa: PLC0415

    cfg = state.config.replace(length=int(length), target_error=None)
    if per_layer:
        names = dict(cfg.layers)
        for name, L in per_layer.items():
            names[name] = dataclasses.replace(cfg.layer(name), length=int(L))
        cfg = cfg.replace(layers=tuple(names.items()))
    sub = CompileState(model=state.model, config=cfg, calibration=state.calibration)
    sub.info = {k: v for k, v in state.info.items() if k in ("calibration", "_trace", "_calibration_inputs")}
    run_flow(sub, flow="lower", disable=[d for d in cfg.disable if d in ("calibrate", "synthesize_fsms")])
    return sub


def measure(state, sub, x: np.ndarray, ref: np.ndarray) -> float:
    from .runtime.engine import Runtime  # noqa: PLC0415

    out, _ = Runtime(sub.netlist).run(x)
    diff = np.abs(out - ref)
    return float(diff.mean() if state.config.schedule.metric == "mean_abs" else diff.max())


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


def schedule(state) -> dict:
    """Choose L for ``state`` (a CompileState after allocate_sources); updates it in place."""
    from .reference import forward  # noqa: PLC0415

    sc = state.config.schedule
    target = float(state.config.target_error)
    x = np.asarray(state.calibration)[: sc.max_samples]
    ref = forward(state.model, x)
    cands = list(sc.lengths)
    measured: dict[int, tuple[float, object]] = {}

    def at(L: int) -> float:
        if L not in measured:
            if state.progress is not None:
                state.progress(f"schedule_length: simulating L={L}")
            sub = _lower_at(state, L)
            measured[L] = (measure(state, sub, x, ref), sub)
        return measured[L][0]

    probe = [cands[min(1, len(cands) - 1)], cands[min(3, len(cands) - 1)]]
    for L in probe:
        at(L)
    a, b = fit_error_model([(L, measured[L][0]) for L in sorted(measured)])
    predicted = next((L for L in cands if a / math.sqrt(L) + b <= sc.margin * target), cands[-1])
    chosen = None
    for L in [c for c in cands if c >= predicted]:
        if at(L) <= target:
            chosen = L
            break
    # the margin makes the prediction conservative: walk down while the unmargined model says
    # a shorter stream still meets the target, keeping the shortest one that measures in
    if chosen is not None:
        a, b = fit_error_model([(L, measured[L][0]) for L in sorted(measured)])
        for L in reversed([c for c in cands if c < chosen]):
            if a / math.sqrt(L) + b > target or at(L) > target:
                break
            chosen = L
    a, b = fit_error_model([(L, measured[L][0]) for L in sorted(measured)])
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
    sub = measured[chosen][1]
    err = measured[chosen][0]
    per_layer: dict[str, int] = {}
    refinements = []
    if sc.per_layer:
        # per layer: shorten one layer's stream at a time (next shorter candidate) while the
        # measured error stays within the target; layers with a configured length stay fixed
        fixed = {n for n, lc in state.config.layers if lc.length is not None}
        for plan in sub.netlist.layers:
            if plan.kind not in ("lstm", "gru") or plan.name in fixed:
                continue
            for L in list(reversed([c for c in cands if c < chosen]))[:3]:
                trial = {**per_layer, plan.name: L}
                tsub = _lower_at(state, chosen, trial)
                terr = measure(state, tsub, x, ref)
                refinements.append({"layer": plan.name, "length": L, "error": terr, "accepted": terr <= target})
                if terr > target:
                    break
                per_layer, sub, err = trial, tsub, terr
    state.netlist = sub.netlist
    state.plan = sub.plan
    state.info.update({k: v for k, v in sub.info.items() if k == "fsms"})
    state.config = sub.config.replace(target_error=state.config.target_error)
    lengths = {p.name: p.length for p in sub.netlist.layers if p.kind in ("lstm", "gru")}
    step_cycles = [L + 1 for L in lengths.values()]
    steps = int(x.shape[1])
    try:
        from .cost import load_target  # noqa: PLC0415

        clock_hz = float(load_target(state.config.cost_target).clock_mhz) * 1e6
    except Exception:  # noqa: BLE001 - a bad target is reported by the cost pass, not here
        clock_hz = float("nan")
    result = {"target_error": target, "metric": sc.metric, "length": chosen, "measured_error": err,
              "lengths": lengths, "model": {"a": a, "b": b}, "curve": curve, "refinements": refinements,
              "samples": int(x.shape[0]),
              "timing": {"cycles_per_step": dict(zip(lengths, step_cycles)),
                         "latency_cycles": sum(step_cycles) + (steps - 1) * max(step_cycles),
                         "steps": steps, "throughput_steps_per_s": clock_hz / max(step_cycles)},
              "note": "uniform L, then per-layer shortening; error vs the quantized reference on calibration inputs"}
    state.info["schedule"] = result
    return result


def accuracy_curve(state, max_samples: int = 4) -> dict | None:
    """Accuracy vs L of the compiled netlist on (up to ``max_samples``) calibration inputs: mean
    |output - quantized reference| and |output - design reference| (golden: the design's own
    quantization points) at L/4, L/2, L, 2L (same netlist, L overridden)."""
    from .runtime.golden import golden_forward  # noqa: PLC0415
    from .runtime.engine import Runtime  # noqa: PLC0415
    from .reference import forward  # noqa: PLC0415

    if state.calibration is None:
        return None
    x = np.asarray(state.calibration)[:max_samples]
    ref = forward(state.model, x)
    gold, _ = golden_forward(state.model, state.plan, x)
    rt = Runtime(state.netlist)
    base = max(p.length for p in state.netlist.layers if p.length)
    points = []
    for L in sorted({max(8, base // 4), max(8, base // 2), base, 2 * base}):
        out, _ = rt.run(x, length=L)
        points.append({"length": L, "error_vs_quantized": float(np.abs(out - ref).mean()),
                       "error_vs_design_reference": float(np.abs(out - gold).mean())})
    return {"metric": "mean_abs", "samples": int(x.shape[0]), "curve": points,
            "design_vs_quantized": float(np.abs(gold - ref).mean()),
            "note": "error_vs_design_reference shrinks ~1/sqrt(L); design_vs_quantized is the floor the "
                    "design's own quantization points (sign(h), saturation) add"}
