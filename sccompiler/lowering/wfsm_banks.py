"""WFSM bank nodes: which rows share a weight table, the targets the synthesis pass fits, and the
Stanh placeholder tables they carry until it does."""

from __future__ import annotations

import numpy as np

from ..ir.sc import SCNode
from ..sim.rules import quantized_weights, stanh_weights
from .common import ACT_CODE, node
from .plans import FoldedRecurrent, RecurrentPlan

#: state count of an ``auto`` WFSM before synthesis (its smallest candidate)
AUTO_INITIAL_STATES = 16


def initial_states(n: int | str) -> int:
    """A WFSM's state count before synthesis (``auto``: the smallest candidate; synthesize_fsms
    picks the final one)."""
    return AUTO_INITIAL_STATES if n == "auto" else int(n)


def operand_bin(m: np.ndarray) -> np.ndarray:
    """Operand-count bins of the FSM groups: m itself up to 16, else the nearest 16 * 1.1^k."""
    m = np.asarray(m, dtype=np.float64)
    big = np.round(16.0 * 1.1 ** np.round(np.log(np.maximum(m, 16.0) / 16.0) / np.log(1.1)))
    return np.where(m <= 16, m, big)


def placeholder_tables(states: int, bits: int, rows: int, groups: np.ndarray | None = None) -> dict:
    """Stanh tables until synthesize_fsms fills them: ``wq`` (G, N) and the group of every row."""
    g = np.zeros(rows, dtype=np.int64) if groups is None else groups
    ng = int(g.max()) + 1 if g.size else 1
    return {"wq": np.tile(quantized_weights(stanh_weights(states), bits), (ng, 1)), "group": g}


def _wfsm_params(plan: RecurrentPlan, states_option: int | str, role: str) -> dict:
    return {"states": initial_states(states_option), "auto_states": states_option == "auto",
            "weight_bits": plan.fsm_weight_bits, "role": role, "state_policy": plan.fsm_state, "synthesized": False}


def gate_wfsm(name: str, pre: str, plan: RecurrentPlan, acts: np.ndarray, gains: np.ndarray,
              operands: np.ndarray, encoding: str = "bipolar") -> SCNode:
    """A gate WFSM bank; rows share one synthesized table per distinct (activation, gain,
    operand-count bin): rows of ternary layers have different numbers of active operands, and the
    increment distribution (the FSM's input model) depends on it (bins: exact up to 16, then 10%
    wide).  ``gains`` (rows,) or per step (T, rows): per-step gains give a table bank (T, G, N)."""
    g2 = np.atleast_2d(gains)
    T = g2.shape[0]
    keys = np.column_stack([acts.astype(np.float64), np.round(g2.T, 12), operand_bin(operands)])
    uniq, group = np.unique(keys, axis=0, return_inverse=True)
    fa = placeholder_tables(initial_states(plan.gate_fsm_states), plan.fsm_weight_bits, acts.size,
                            group.ravel().astype(np.int64))
    fa["target_act"] = uniq[:, 0].astype(np.int8)
    fa["target_gain"] = uniq[:, 1:1 + T].T.copy() if T > 1 else uniq[:, 1]
    if T > 1:
        fa["wq"] = np.tile(fa["wq"][None], (T, 1, 1))
    fa["operands"] = operands.astype(np.int64)
    return node(name, "wfsm", (pre,), (acts.size,), plan.name, encoding, (0 if encoding == "unipolar" else -1, 1),
                _wfsm_params(plan, plan.gate_fsm_states, "gate"), fa)


def cell_wfsm(name: str, pre: str, plan: RecurrentPlan, folded: FoldedRecurrent, hidden: int) -> SCNode:
    """The tanh(c) WFSM bank.  Without bn_c one table tanh(z).  With bn_c the target of row j at
    step t is tanh(s_tj z + m_tj) (BNc folded into the target): rows with equal (s, m) columns
    share a table (group); per-step statistics give a bank ``wq`` of shape (T_stats, G, N),
    table t used at step t (steps beyond the last use the last: ``BatchNormParams.at``)."""
    K = plan.cell_range
    states = initial_states(plan.cell_fsm_states)
    if folded.scale_c is None:
        fa = placeholder_tables(states, plan.fsm_weight_bits, hidden)
        fa["target_act"] = np.array([ACT_CODE["tanh"]], dtype=np.int8)
        fa["target_gain"] = np.array([1.0])
    else:
        sc, mc = folded.scale_c, folded.shift_c                     # (T, H)
        keys = np.round(np.concatenate([sc, mc], axis=0).T, 12)     # row j: its (s, m) over all steps
        uniq, group = np.unique(keys, axis=0, return_inverse=True)
        T = sc.shape[0]
        fa = placeholder_tables(states, plan.fsm_weight_bits, hidden, group.ravel().astype(np.int64))
        fa["target_act"] = np.full(uniq.shape[0], ACT_CODE["tanh"], dtype=np.int8)
        fa["target_gain"] = uniq[:, :T].T.copy()                    # (T, G)
        fa["target_shift"] = uniq[:, T:].T.copy()
        if T > 1:
            fa["wq"] = np.tile(fa["wq"][None], (T, 1, 1))
    fa["operands"] = np.full(hidden, K + 1, dtype=np.int64)
    return node(name, "wfsm", (pre,), (hidden,), plan.name, "bipolar", (-1, 1),
                _wfsm_params(plan, plan.cell_fsm_states, "cell"), fa)


def bias_bank(name: str, layer: str, shift_u: np.ndarray) -> tuple[list[SCNode], int]:
    """ceil(max|b|) constant-value bias SNGs per row for a bias ``shift_u`` in units of u:
    (rows,), or (T, rows) per step (per-step batch norm: constants (T, nb, rows) switching per step)."""
    b = np.atleast_2d(shift_u)
    if not np.any(b != 0):
        return [], 0
    nb = int(np.ceil(float(np.max(np.abs(b))) - 1e-12))
    const = np.repeat((b / nb)[:, None, :], nb, axis=1)
    return [node(name, "encode", (), (nb, b.shape[1]), layer, "bipolar", (-1, 1), {"repeat": nb},
                 {"const": const if b.shape[0] > 1 else const[0]})], nb
