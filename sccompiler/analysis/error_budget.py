"""The error budget of a compiled design on given inputs (docs/compiler.md "Error budget").

For every stream length L the output is simulated (:class:`~.mixed.MixedRuntime`) with

* no class exact (``full``: what the bit-exact runtimes compute),
* every class exact (``exact``: the design reference to float precision),
* each class exact, the others stochastic ("all but one stochastic": ``removal``), and
* each class stochastic, the others exact ("only one stochastic": ``isolated``),

and the mean squared output error is measured against the design reference
(:func:`~sccompiler.runtime.golden.golden_forward`) and the quantized model
(:func:`~sccompiler.reference.forward`).  A class's part is
``removal = MSE(full) - MSE(class exact)`` and ``isolated = MSE(only the class) - MSE(exact)``;
the stochastic total is ``MSE(full) - MSE(exact)`` and each residual (the interaction) is the
total minus the sum of the parts.  Against the quantized model ``MSE(exact)`` is the error of the
design's own quantization points (cell saturation, sign(h), time-invariant batch norm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..errors import SCValueError
from ..reference import check_input, forward
from ..runtime.golden import golden_forward
from ..sim.rules import is_int
from .mixed import INTERACTION_KINDS, MixedRuntime, element_classes

#: the longest stream length the budget simulates (the Python mixed runtime is slow)
MAX_BUDGET_LENGTH = 1 << 16
#: the references the error is measured against
REFERENCES = ("golden", "quantized")


@dataclass(frozen=True)
class ClassPart:
    """One class at one L: MSE with it exact / with only it stochastic, and the parts."""

    name: str
    layer: str
    kind: str
    mse_exact_one: dict            # reference -> MSE with this class exact (others stochastic)
    mse_only_one: dict | None      # reference -> MSE with only this class stochastic (None: interaction class)
    removal: dict                  # reference -> MSE(full) - MSE(this exact)
    isolated: dict | None          # reference -> MSE(only this) - MSE(exact)

    def to_dict(self) -> dict:
        return {"class": self.name, "layer": self.layer, "kind": self.kind, "mse_exact_one": self.mse_exact_one,
                "mse_only_one": self.mse_only_one, "removal": self.removal, "isolated": self.isolated}


@dataclass(frozen=True)
class LengthBudget:
    """The budget at one stream length."""

    length: int
    mse_full: dict                 # reference -> MSE of the stochastic design (all classes)
    mse_exact: dict                # reference -> MSE with every class exact
    parts: tuple[ClassPart, ...]
    seconds: float

    @property
    def total(self) -> dict:
        return {r: self.mse_full[r] - self.mse_exact[r] for r in REFERENCES}

    def residual(self, which: str) -> dict:
        """total - sum of the parts (``which``: removal | isolated)."""
        out = {}
        for r in REFERENCES:
            vals = [getattr(p, which)[r] for p in self.parts if getattr(p, which) is not None]
            out[r] = self.total[r] - float(sum(vals))
        return out

    def per_layer(self, which: str, reference: str = "golden") -> dict:
        out: dict[str, float] = {}
        for p in self.parts:
            v = getattr(p, which)
            if v is not None:
                out[p.layer] = out.get(p.layer, 0.0) + v[reference]
        return out

    def to_dict(self) -> dict:
        return {"length": self.length, "mse_full": self.mse_full, "mse_exact": self.mse_exact, "total": self.total,
                "residual_removal": self.residual("removal"), "residual_isolated": self.residual("isolated"),
                "per_layer_removal": self.per_layer("removal"), "per_layer_isolated": self.per_layer("isolated"),
                "parts": [p.to_dict() for p in self.parts], "seconds": self.seconds}


@dataclass(frozen=True)
class ErrorBudget:
    """The error budget of a design on inputs of ``shape`` at each L (:func:`error_budget`)."""

    model: str
    shape: tuple[int, ...]
    classes: tuple[str, ...]
    lengths: tuple[LengthBudget, ...]
    seed: int

    def to_dict(self) -> dict:
        return {"model": self.model, "inputs_shape": list(self.shape), "classes": list(self.classes),
                "seed": self.seed, "error": "mean squared output error",
                "references": {"golden": "design reference (runtime.golden)",
                               "quantized": "quantized model (reference.forward)"},
                "lengths": [lb.to_dict() for lb in self.lengths]}


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, dtype=np.float64) - b) ** 2))


def error_budget(design, x, *, lengths: Sequence[int] | None = None, classes: Sequence[str] | None = None,
                 seed: int = 0, progress: Callable[[int], None] | None = None) -> ErrorBudget:
    """The error budget of ``design`` (a :class:`~sccompiler.design.CompiledDesign`) on inputs
    ``x`` at each of ``lengths`` (None: the design's own L); ``classes``: a subset of
    :func:`~.mixed.element_classes` (default: all).  ``seed``: the private ideal source that
    realizes exact streams as bits for a stochastic FSM downstream.  ``progress(k)`` is called
    after each of the ``2 + 2 * len(classes)`` simulations per L."""
    xc = check_input(design.model, x)
    all_cls = element_classes(design.netlist)
    if classes is None:
        chosen = list(all_cls)
    else:
        chosen = list(classes)
        bad = [c for c in chosen if c not in all_cls]
        if bad:
            raise SCValueError("classes", f"unknown element class {bad[0]!r}; the design has: {', '.join(all_cls)}")
        if len(set(chosen)) != len(chosen):
            raise SCValueError("classes", "a class is named twice")
    todo = [None] if lengths is None else list(lengths)
    for L in todo:
        if L is not None and (not is_int(L) or not 1 <= L <= MAX_BUDGET_LENGTH):
            raise SCValueError("lengths", f"each L must be an integer in 1..{MAX_BUDGET_LENGTH}, got {L!r}")
    refs = {"golden": golden_forward(design.model, design.plans, xc)[0], "quantized": forward(design.model, xc)}

    def mses(exact) -> dict:
        out = MixedRuntime(design.netlist, frozenset(exact), seed=seed).run(xc, length=L)
        if progress is not None:
            progress(1)
        return {r: _mse(out, refs[r]) for r in REFERENCES}

    import time  # noqa: PLC0415

    rows = []
    for L in todo:
        t0 = time.perf_counter()
        full = mses(())
        exact = mses(all_cls)
        parts = []
        for c in chosen:
            layer, kind = c.split("/", 1)
            one = mses({c})
            interaction = kind in INTERACTION_KINDS
            only = None if interaction else mses(set(all_cls) - {c})
            parts.append(ClassPart(c, layer, kind, one, only, {r: full[r] - one[r] for r in REFERENCES},
                                   None if only is None else {r: only[r] - exact[r] for r in REFERENCES}))
        length = int(L) if L is not None else max(design.lengths.values(), default=0)
        rows.append(LengthBudget(length, full, exact, tuple(parts), time.perf_counter() - t0))
    return ErrorBudget(design.model.name, tuple(int(s) for s in xc.shape), tuple(chosen), tuple(rows), int(seed))


def budget_runs(design, classes: Sequence[str] | None = None) -> int:
    """Simulations per L of :func:`error_budget` (for progress bars)."""
    cls = element_classes(design.netlist) if classes is None else list(classes)
    return 2 + sum(1 if c.split("/", 1)[1] in INTERACTION_KINDS else 2 for c in cls)


def budget_table(budget: ErrorBudget, reference: str = "golden") -> str:
    """A plain-text table: per L the stochastic total and each class's parts (MSE and share of
    the total), the residuals."""
    lines = []
    for lb in budget.lengths:
        tot = lb.total[reference]
        lines.append(f"L = {lb.length}: MSE vs {reference} {lb.mse_full[reference]:.4g} (all exact "
                     f"{lb.mse_exact[reference]:.3g}; stochastic total {tot:.4g})")
        lines.append(f"  {'class':<30} {'all-but-one':>12} {'share':>7} {'only-one':>12} {'share':>7}")

        def share(v):
            return f"{100 * v / tot:6.1f}%" if tot > 0 else "     -"
        for p in lb.parts:
            rm = p.removal[reference]
            iso = "-" if p.isolated is None else f"{p.isolated[reference]:.4g}"
            iso_s = "      -" if p.isolated is None else share(p.isolated[reference])
            lines.append(f"  {p.name:<30} {rm:>12.4g} {share(rm):>7} {iso:>12} {iso_s:>7}")
        rr, ri = lb.residual("removal")[reference], lb.residual("isolated")[reference]
        lines.append(f"  {'residual (interaction)':<30} {rr:>12.4g} {share(rr):>7} {ri:>12.4g} {share(ri):>7}")
    return "\n".join(lines)


def write_budget_plot(budget: ErrorBudget, path, *, force: bool = False, reference: str = "golden",
                      which: str = "isolated") -> None:
    """Stacked bars per L of each class's part (``which``: isolated | removal) and the residual,
    written atomically as PNG (matplotlib, Agg)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from ..io import atomic_file  # noqa: PLC0415

    if which not in ("isolated", "removal"):
        raise SCValueError("which", f"must be isolated or removal, got {which!r}")
    names = [c for c in budget.classes
             if any(getattr(p, which) is not None for lb in budget.lengths for p in lb.parts if p.name == c)]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    xs = np.arange(len(budget.lengths))
    bottom_pos = np.zeros(len(xs))
    bottom_neg = np.zeros(len(xs))
    cmap = plt.get_cmap("tab20")
    for k, c in enumerate(names + ["residual"]):
        vals = []
        for lb in budget.lengths:
            if c == "residual":
                vals.append(lb.residual(which)[reference])
            else:
                p = next(p for p in lb.parts if p.name == c)
                vals.append(getattr(p, which)[reference])
        v = np.array(vals)
        base = np.where(v >= 0, bottom_pos, bottom_neg)
        ax.bar(xs, v, bottom=base, color="lightgrey" if c == "residual" else cmap(k % 20), label=c,
               edgecolor="black", linewidth=0.3)
        bottom_pos += np.where(v >= 0, v, 0)
        bottom_neg += np.where(v < 0, v, 0)
    ax.plot(xs, [lb.total[reference] for lb in budget.lengths], "k_", markersize=30, label="total")
    ax.set_xticks(xs, [str(lb.length) for lb in budget.lengths])
    ax.set_xlabel("stream length L")
    ax.set_ylabel(f"MSE vs {reference} ({which})")
    ax.set_title(f"error budget: {budget.model}")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    with atomic_file(path, force=force, mode="wb") as fh:
        fig.savefig(fh, format="png", dpi=120)
    plt.close(fig)
