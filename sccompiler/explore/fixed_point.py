"""The k-bit fixed-point baselines of an exploration, measured like the trials.

For every k in :data:`BITS` the exact integer model
(:class:`sccompiler.quantize.fixed_point.FixedPointModel`, bit-exact with the baseline RTL that
``scc baseline`` emits) runs on the same validation data, and its design
(:func:`sccompiler.cost.baselines.fixed_point_design`, the same dense head as the SC design) is
costed on the same target for the same T steps, fully parallel and folded onto P MAC lanes
(:func:`foldings`); a head after a LastStep (a sequence classifier) runs and is costed once per
sequence, as in the SC design.  A model the integer model refuses (embeddings, batch norms) gives failed rows
with the reason, never an exception.
"""

from __future__ import annotations

from ..cost.baselines import fixed_point_design, head_runs_once, head_shape, layer_shapes
from ..errors import SCCError
from ..quantize.fixed_point import FixedPointModel
from .trial import TrialContext, cost_values, output_values

BITS = (4, 5, 6, 7, 8)


def foldings(model) -> list[int | None]:
    """None (fully parallel: one multiplier per weight), P = the gate rows of the widest layer
    (one lane per row), P = its hidden size (one lane per neuron) and P = 1 (one MAC lane),
    each at most the MACs per step of every layer."""
    shapes = layer_shapes(model)
    cap = min(s.rows * s.fan_in for s in shapes)
    rows = max(s.rows for s in shapes)
    hidden = max(s.hidden_size for s in shapes)
    out: list[int | None] = [None]
    for p in (rows, hidden, 1):
        p = min(p, cap)
        if p not in out:
            out.append(p)
    return out


def baseline_name(bits: int, parallelism: int | None) -> str:
    return f"fixed{bits}" + ("" if parallelism is None else f"-P{parallelism}")


def run_baselines(ctx: TrialContext, target: str, bits: tuple[int, ...] = BITS) -> list[dict]:
    """One record per (k, folding): ``{name, bits, parallelism, state, error, values}``."""
    rows: list[dict] = []
    steps = int(ctx.x.shape[1])
    try:
        folds = foldings(ctx.model)
        shapes, head = layer_shapes(ctx.model), head_shape(ctx.model)
        once = head_runs_once(ctx.model)        # a head after a LastStep: once per sequence
    except SCCError as exc:
        return [{"name": "fixed", "bits": None, "parallelism": None, "state": "failed", "error": str(exc),
                 "values": {}}]
    for k in bits:
        try:
            out = FixedPointModel.from_model(ctx.model, k).forward_float(ctx.x)
            accuracy = output_values(ctx, out)
            failure = None
        except SCCError as exc:
            accuracy, failure = {}, str(exc).splitlines()[0]
        for p in folds:
            rec = {"name": baseline_name(k, p), "bits": k, "parallelism": p, "state": "failed",
                   "error": failure, "values": {}}
            if failure is None:
                try:
                    cost = fixed_point_design(shapes, bits=k, parallelism=p, head=head,
                                              head_per_sequence=once).estimate(target, steps=steps)
                    rec.update(state="ok", values={**accuracy, **cost_values(cost.to_json())})
                except SCCError as exc:
                    rec["error"] = str(exc).splitlines()[0]
            rows.append(rec)
    return rows
