"""Reports of synthesized FSMs: a JSON-ready dict, a text summary, and a PNG plot."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .inputs import GRID_MODELS
from .simulate import SimulatedError
from .steady import steady_state
from .synth import FSMDesign

ERROR_DOMAIN = ("errors are in the output value domain ({output}: y = {formula}); rmse is the "
                "density-weighted (uniform by default) RMS of target - output")


def design_report(design: FSMDesign, sim: SimulatedError | None = None,
                  sim_skipped: str | None = None) -> dict[str, Any]:
    """Everything the CLI's ``--json`` prints, as plain Python types."""
    formula = "2 P(1) - 1" if design.output == "bipolar" else "P(1)"
    rep: dict[str, Any] = {
        "expression": design.expression,
        "states": design.states,
        "input": design.input.name,
        "output": design.output,
        "domain": list(design.domain),
        "objective": design.objective,
        "weights": list(design.weights),
        "weight_bits": design.weight_bits,
        "quantized_weights": list(design.quantized_weights),
        "analytic_rmse": design.analytic_rmse,
        "analytic_max_error": design.analytic_max_error,
        "unquantized_rmse": design.unquantized_rmse,
        "unquantized_max_error": design.unquantized_max_error,
        "error_domain": ERROR_DOMAIN.format(output=design.output, formula=formula),
        "baseline": {
            "name": design.baseline.name,
            "states": design.states,
            "analytic_rmse": design.baseline.analytic_rmse,
            "analytic_max_error": design.baseline.analytic_max_error,
        },
        "simulated": None,
        "regularization": design.regularization,
        "gram_condition": design.gram_condition,
        "regularized_condition": design.regularized_condition,
        "monotone": design.monotone,
        "grid": design.grid,
        "clip": design.clip,
        "solver": design.solver,
        "seconds": design.seconds,
        "cached": design.cached,
    }
    if sim is not None:
        rep["simulated"] = {"length": sim.length, "rmse": sim.rmse, "max_error": sim.max_error,
                            "bias_rms": sim.bias_rms, "std_rms": sim.std_rms, "source": sim.source,
                            "width": sim.width, "repeats": sim.repeats, "points": len(sim.x)}
        rep["baseline"]["simulated"] = {"length": sim.length, "rmse": sim.baseline_rmse,
                                        "max_error": sim.baseline_max_error}
    elif sim_skipped:
        rep["simulated_skipped"] = sim_skipped
    return rep


def format_report(rep: dict[str, Any]) -> str:
    """A short human-readable summary of :func:`design_report`'s dict."""
    lines = [
        f"target    {rep['expression']}  ({rep['output']} output, input {rep['input']}, "
        f"domain [{rep['domain'][0]:g}, {rep['domain'][1]:g}])",
        f"design    N = {rep['states']} states, {rep['weight_bits']}-bit weights, objective {rep['objective']}, "
        f"solver {rep['solver']}, {rep['seconds'] * 1e3:.1f} ms{' (cached)' if rep['cached'] else ''}",
        f"weights   {' '.join(str(v) for v in rep['quantized_weights'])}  (/ 2^{rep['weight_bits']})",
        f"analytic  rmse {rep['analytic_rmse']:.3g}  max {rep['analytic_max_error']:.3g}   "
        f"(unquantized rmse {rep['unquantized_rmse']:.3g}  max {rep['unquantized_max_error']:.3g})",
        f"baseline  {rep['baseline']['name']}: rmse {rep['baseline']['analytic_rmse']:.3g}  "
        f"max {rep['baseline']['analytic_max_error']:.3g}",
    ]
    sim = rep.get("simulated")
    if sim:
        base = rep["baseline"]["simulated"]
        lines.append(f"simulated L = {sim['length']} ({sim['source']}, "
                     f"{sim['repeats']} seeds x {sim['points']} points): "
                     f"rmse {sim['rmse']:.3g}  max {sim['max_error']:.3g}  (bias {sim['bias_rms']:.3g}, "
                     f"std {sim['std_rms']:.3g}); baseline rmse {base['rmse']:.3g}  max {base['max_error']:.3g}")
    elif rep.get("simulated_skipped"):
        lines.append(f"simulated skipped: {rep['simulated_skipped']}")
    lines.append(f"regularization {rep['regularization']:.3g} (cond {rep['gram_condition']:.3g} -> "
                 f"{rep['regularized_condition']:.3g}); {rep['error_domain']}")
    return "\n".join(lines)


#: the baseline is drawn only when its analytic RMSE is below this share of the target's range:
#: a Stanh next to, e.g., x^2 is another function, not an approximation worth comparing
BASELINE_RELEVANT_SHARE = 0.2


def baseline_applies(design: FSMDesign) -> bool:
    """Whether the baseline (Brown-Card Stanh) approximates this target at all."""
    lo, hi = design.domain
    t = np.asarray(design.target_value(np.linspace(lo, hi, 201)), dtype=np.float64)
    span = float(np.ptp(t)) if t.size else 0.0
    return span > 0 and design.baseline.analytic_rmse <= BASELINE_RELEVANT_SHARE * span


def plot_design(design: FSMDesign, path: str | os.PathLike, sim: SimulatedError | None = None,
                force: bool = False) -> dict[str, bool]:
    """PNG: target, analytic curve (quantized weights), baseline where it approximates the target
    (:func:`baseline_applies`), simulated points (if given), and a panel below with the errors
    (target - analytic, target - simulated mean).  Returns what was drawn."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from ..io import atomic_file  # noqa: PLC0415

    show_base = baseline_applies(design)
    fig, (ax, ex) = plt.subplots(2, 1, figsize=(7, 6), dpi=110, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    try:
        if isinstance(design.input, GRID_MODELS):
            x = np.linspace(design.domain[0], design.domain[1], 801)
            phi = steady_state(design.input.increments(x), design.states)
        else:
            x = design.evaluation_points()
            order = np.argsort(x)
            x = x[order]
            phi = steady_state(design.input.increments(None), design.states)[order]
        to_value = (lambda p: 2 * p - 1) if design.output == "bipolar" else (lambda p: p)
        style = "-" if isinstance(design.input, GRID_MODELS) else "."
        target = design.target_value(x)
        analytic = to_value(phi @ design.realized_weights)
        ax.plot(x, target, style, color="black", lw=2.2, label="target")
        ax.plot(x, analytic, style, color="tab:blue", lw=1.2,
                label=f"WFSM analytic (N={design.states}, {design.weight_bits}-bit)")
        ex.plot(x, target - analytic, style, color="tab:blue", lw=1.2, label="target - WFSM analytic")
        if show_base:
            base = to_value(phi @ np.asarray(design.baseline.weights))
            ax.plot(x, base, "--" if style == "-" else "x", color="tab:gray", lw=1,
                    label=f"{design.baseline.name} analytic")
            ex.plot(x, target - base, "--" if style == "-" else "x", color="tab:gray", lw=1,
                    label=f"target - {design.baseline.name}")
        if sim is not None:
            ax.plot(sim.x, sim.mean_output, "o", color="tab:red", ms=4,
                    label=f"WFSM simulated (L={sim.length}, {sim.source}, mean of {sim.repeats})")
            ex.plot(sim.x, design.target_value(sim.x) - sim.mean_output, "o", color="tab:red", ms=3,
                    label="target - WFSM simulated mean")
            if show_base:
                ax.plot(sim.x, sim.baseline_mean_output, "s", color="tab:orange", ms=3, mfc="none",
                        label=f"{design.baseline.name} simulated")
        ex.axhline(0.0, color="black", lw=0.6)
        ex.set_xlabel(f"x (input {design.input.name})")
        ex.set_ylabel("error")
        ax.set_ylabel(f"y ({design.output})")
        base_txt = (f", {design.baseline.name} {design.baseline.analytic_rmse:.2g}" if show_base
                    else f" ({design.baseline.name} does not approximate this target: not drawn)")
        ax.set_title(f"{design.expression}: analytic rmse {design.analytic_rmse:.2g}{base_txt}", fontsize=9)
        for a in (ax, ex):
            a.grid(alpha=0.3)
            a.legend(fontsize=7, loc="best")
        fig.tight_layout()
        with atomic_file(path, force=force, mode="wb") as fh:
            fig.savefig(fh, format="png")
    finally:
        plt.close(fig)
    return {"baseline": show_base, "error_panel": True}
