"""Pass ``fold_batchnorm``: batch norms and biases -> per-row gate scales/offsets (tables or FSM
targets), and a report of what collapsing per-step statistics (``bn_steps: last|mean``) gives up."""

from __future__ import annotations

import numpy as np

from ..ir.model import GRU, LSTM, direction_layers
from ..lowering import RecurrentPlan, fold_recurrent
from ..quantize.bnfold import bn_affine, bn_affine_table, collapse_batchnorm
from .registry import CompileState, register_pass


def bn_steps_report(lay: LSTM | GRU, plan: RecurrentPlan) -> dict:
    """Per batch norm of ``lay``: statistics rows, how they are realized (``bn_steps``) and, for a
    collapsed per-step BN, the largest change of its affine over the rows (and, for bn_c, of the
    tanh(BNc(c)) target over c in [-K, K]): the accuracy a single table gives up."""
    out = {}
    for field, bn in lay.batchnorms():
        entry = {"rows": int(bn.mean.shape[0]) if bn.per_step else 1, "realized": "time-invariant"}
        if bn.per_step:
            entry["realized"] = "per-step tables" if plan.bn_steps == "tables" else f"single ({plan.bn_steps} row)"
            if plan.bn_steps != "tables":
                s, m = bn_affine_table(bn, bn.mean.shape[0])
                s1, m1 = bn_affine(collapse_batchnorm(bn, plan.bn_steps))
                entry["max_scale_change"] = float(np.max(np.abs(np.asarray(s) - s1)))
                entry["max_shift_change"] = float(np.max(np.abs(np.asarray(m) - m1)))
                if field == "bn_c":
                    c = np.linspace(-plan.cell_range, plan.cell_range, 201)[:, None, None]
                    dev = np.abs(np.tanh(np.asarray(s)[None] * c + np.asarray(m)[None]) - np.tanh(s1 * c + m1))
                    entry["max_tanh_target_change"] = float(dev.max())
        out[field] = entry
    return out


@register_pass("fold_batchnorm", requires=("plan_datapath",),
               description="fold batch norms and biases into per-row gate scales/offsets (tables or FSM targets)")
def fold_batchnorm(state: CompileState) -> None:
    report = {}
    for lay in state.model.layers:
        if isinstance(lay, (LSTM, GRU)):
            plan = state.plans[lay.name]
            report[lay.name] = bn_steps_report(lay, plan)
            for d in direction_layers(lay):         # a bidirectional layer: both directions
                state.folded[d.name] = fold_recurrent(d, plan.bn_steps)
    state.info["batchnorm"] = {k: v for k, v in report.items() if v}
