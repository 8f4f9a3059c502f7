"""Reports of :func:`~.realize.realize_activation`: a text summary and a PNG plot whose lower
panel is the error target - realization vs x of every candidate."""

from __future__ import annotations

import os

import numpy as np

from .realize import Realization, describe

_COLORS = {"wfsm": "tab:blue", "wfsm2d": "tab:orange", "bernstein": "tab:green", "lut": "tab:purple"}


def analytic_curve(cand, x: np.ndarray) -> np.ndarray:
    """A candidate's analytic output at x (grid input models)."""
    return np.asarray(cand.design.output_value(x), dtype=float)


def format_realization(rep: Realization) -> str:
    lines = [f"target    {rep.expression}  ({rep.output} output, input {rep.input}, domain "
             f"[{rep.domain[0]:g}, {rep.domain[1]:g}]), max error {rep.max_error:g}, L = {rep.length}"]
    for c in rep.candidates:
        mark = "*" if rep.chosen is c else ("+" if c.meets else "-")
        if c.cost is None:
            lines.append(f" {mark} {c.kind:<9} not applicable: {c.note}")
            continue
        sim = c.simulated
        simtxt = (f"  bit-level max {sim['max_error']:.3g} (mean of {sim['repeats']}: {sim['mean_max_error']:.3g}, "
                  f"|z| <= {sim['z_max']:.2g})" if sim else "")
        lines.append(f" {mark} {c.kind:<9} {describe(c):<34} analytic max {c.analytic_max_error:.3g}  "
                     f"rmse {c.analytic_rmse:.3g}  {c.cost['gate_equivalents']:.0f} GE{simtxt}"
                     + (f"  [{c.note}]" if c.note else ""))
    lines.append(f"chosen    {rep.chosen.kind} ({describe(rep.chosen)})" if rep.chosen else
                 f"chosen    none: {rep.unmet_message()}")
    lines.append("          (* chosen, + meets the max error, - does not; GE = asic-generic gate equivalents; "
                 "z: bit-level mean vs analytic in binomial standard errors)")
    return "\n".join(lines)


def plot_realization(rep: Realization, path: str | os.PathLike, force: bool = False) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from ..io import atomic_file  # noqa: PLC0415

    fig, (ax, ex) = plt.subplots(2, 1, figsize=(7, 6.5), dpi=110, sharex=True,
                                 gridspec_kw={"height_ratios": [3, 2]})
    try:
        built = [c for c in rep.candidates if c.design is not None]
        x = np.linspace(rep.domain[0], rep.domain[1], 801)
        tv = built[0].design.target_value(x) if built else None
        if tv is not None:
            ax.plot(x, tv, color="black", lw=2.2, label="target")
        for c in built:
            col = _COLORS.get(c.kind, "tab:gray")
            y = analytic_curve(c, x)
            lw = 1.8 if c is rep.chosen else 1.0
            ax.plot(x, y, color=col, lw=lw, label=f"{c.kind} ({describe(c)}) analytic"
                    + (" [chosen]" if c is rep.chosen else ""))
            ex.plot(x, tv - y, color=col, lw=lw, label=f"{c.kind} analytic")
            if c.simulated:
                sx = np.asarray(c.simulated["x"])
                sm = np.asarray(c.simulated["mean_output"])
                ax.plot(sx, sm, "o", color=col, ms=3, mfc="none")
                ex.plot(sx, c.design.target_value(sx) - sm, "o", color=col, ms=3, mfc="none",
                        label=f"{c.kind} bit level (L={rep.length}, mean of {c.simulated['repeats']})")
        for s in (1, -1):
            ex.axhline(s * rep.max_error, color="tab:red", ls="--", lw=0.8)
        ex.axhline(0, color="black", lw=0.5)
        ex.set_xlabel(f"x (input {rep.input})")
        ex.set_ylabel("target - realization")
        ax.set_ylabel(f"y ({rep.output})")
        ax.set_title(f"{rep.expression}: chosen {rep.chosen.kind if rep.chosen else 'none'} "
                     f"(max error {rep.max_error:g})")
        for a in (ax, ex):
            a.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        ex.legend(fontsize=6, loc="best")
        fig.tight_layout()
        with atomic_file(path, force=force, mode="wb") as fh:
            fig.savefig(fh, format="png")
    finally:
        plt.close(fig)
