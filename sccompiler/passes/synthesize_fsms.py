"""Pass ``synthesize_fsms``: WFSM weight tables for every gate / tanh(c) bank and its input model.

Each bank's rows are grouped (one table per group, :mod:`sccompiler.lowering.wfsm_banks`); each
group gets an input model (:mod:`sccompiler.fsm.operands`): the Poisson-binomial model of the
operands the calibration inputs produce (``fsm_input_model: auto``, where the datapath allows
it), else Binomial(M).  ``auto`` state counts take the smallest candidate within
``fsm_tolerance``.  Disabled: the banks keep their Stanh placeholder tables.
"""

from __future__ import annotations

import numpy as np

from ..fsm.banks import GroupModel, synthesize_bank
from ..fsm.operands import (
    auto_state_candidates,
    binomial_model,
    cell_operand_model,
    gate_operand_model,
    increment_spread,
)
from ..ir.sc import SCNode
from ..runtime.golden import golden_forward
from .registry import CompileState, register_pass


def layer_io(state: CompileState, layer: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(layer input x, previous hidden h_{t-1}) per (sample, step) on the calibration inputs, from
    the design reference (sign(h) where the design has it), or None without calibration data."""
    x = state.calibration_inputs
    if x is None:
        return None
    if state.design_trace is None:
        options = {p.name: p.options for p in state.netlist.layers}
        state.design_trace = golden_forward(state.model, options, x)[1]
    trace = state.design_trace
    # the netlist's layers (a bidirectional layer: forward, backward, concat); the backward
    # direction reads its forward partner's input, both in its own step order (reversed in time)
    names = [p.name for p in state.netlist.layers]
    k = names.index(layer)
    backward = state.netlist.layers[k].options.direction == "backward"
    src = k - 1 if backward else k
    if src == 0:
        xin = np.asarray(x, dtype=np.float64)
    else:
        prev = trace[names[src - 1]]
        xin = prev["h"] if "h" in prev else prev["out"]
    h = trace[layer]["h"]
    if backward:
        xin, h = xin[:, ::-1], h[:, ::-1]
    return xin, np.concatenate([np.zeros_like(h[:, :1]), h[:, :-1]], axis=1)


def group_model(node: SCNode, state: CompileState, rows: np.ndarray) -> GroupModel:
    """The input model of the bank rows ``rows`` (see the module docstring)."""
    operands = node.arrays["operands"][rows]
    binomial = GroupModel(binomial_model(operands), False)
    if state.plans[node.layer].fsm_input_model != "auto":
        return binomial
    rng = np.random.default_rng(0)
    trace = state.calibration_trace
    if node.params["role"] == "cell" and trace is not None and node.layer in trace:
        rec = trace[node.layer]
        K = int(np.max(operands)) - 1
        return GroupModel(cell_operand_model(rec["f"], rec["i"], rec["g"], rec["c"], K, rng), True)
    # the LSTM's integral gates with bias streams (no wired offset) and one x/h unit per step
    if node.params["role"] != "gate" or node.name != f"{node.layer}.gates_s":
        return binomial
    io = layer_io(state, node.layer)
    nl, n = state.netlist, node.layer
    px, ph, pre, x_s = nl.node(f"{n}.px"), nl.node(f"{n}.ph"), nl.node(f"{n}.pre"), nl.node(f"{n}.x_s")
    if io is None or np.any(pre.arrays.get("offset", 0) != 0) or "gain" in x_s.arrays:
        return binomial           # per-step / per-row bn_x/bn_h: operand values change per step and row
    xin, h_prev = io
    xs = xin / float(x_s.params["scale"])
    hs = h_prev / float(nl.node(f"{n}.h_s").params["scale"])
    bias = nl.node(f"{n}.b_s").arrays["const"] if nl.has(f"{n}.b_s") else None
    return GroupModel(gate_operand_model(px.arrays["weights"], ph.arrays["weights"], xs, hs, bias,
                                         bool(px.params.get("gated")), rows, rng), True)


def synthesize_node(node: SCNode, state: CompileState) -> tuple[SCNode, list[dict]]:
    """``node`` (a WFSM bank) with synthesized tables, and its report entries."""
    plan = state.plans[node.layer]
    bits = node.params["weight_bits"]
    bank = np.asarray(node.arrays["wq"]).ndim == 3            # per-step tables (T, G, N)
    gains = np.atleast_2d(node.arrays["target_gain"])
    shifts = np.atleast_2d(node.arrays.get("target_shift", np.zeros_like(node.arrays["target_gain"])))
    acts = node.arrays["target_act"]
    models = [group_model(node, state, np.flatnonzero(node.arrays["group"] == g)) for g in range(len(acts))]
    tol = float(plan.fsm_tolerance)
    auto = bool(node.params.get("auto_states"))
    spread = max(increment_spread(m.model) for m in models) if auto else None
    candidates = auto_state_candidates(spread, int(plan.length)) if auto else [int(node.params["states"])]
    for N in candidates:                       # explicit N: one candidate; auto: the smallest within tolerance
        tables, entries = synthesize_bank(acts, gains, shifts, models, N, bits)
        worst = max(e["analytic_rmse"] for e in entries)
        if worst <= tol:
            break
    report = []
    for e in entries:
        entry = {"node": node.name, **{k: v for k, v in e.items() if k not in ("shift", "step")}}
        if "target_shift" in node.arrays:
            entry["shift"] = e["shift"]
        if bank:
            entry["step"] = e["step"]
        if auto:
            entry["auto"] = {"candidates": candidates, "increment_spread": spread}
        report.append(entry)
    if worst > tol:
        if auto:
            warning = (f"{node.name}: analytic RMSE {worst:.3g} > fsm_tolerance {tol:g} at {N} states, the most "
                       f"that average within L = {plan.length} cycles (increment spread {spread:.3g}/cycle); "
                       "a longer stream (--length) allows more states")
        else:
            warning = (f"{node.name}: analytic RMSE {worst:.3g} of its {N}-state WFSMs exceeds fsm_tolerance {tol:g} "
                       f"(an accuracy floor no stream length removes); "
                       f"--set {'gate' if node.params['role'] == 'gate' else 'cell'}_fsm_states=auto sizes them")
        state.info.setdefault("warnings", []).append(warning)
    synthesized = node.replace(arrays={**node.arrays, "wq": tables if bank else tables[0]},
                               params={**node.params, "states": N, "synthesized": True,
                                       "input_model": [m.model.name for m in models]})
    return synthesized, report


@register_pass("synthesize_fsms", optional=True, requires=("lower_layers",),
               description="synthesize WFSM weights for each gate/tanh(c) target and its input model (disabled: Stanh)")
def synthesize_fsms(state: CompileState) -> None:
    nodes, report = [], []
    for node in state.netlist:
        if node.op == "wfsm":
            node, entries = synthesize_node(node, state)
            report += entries
        nodes.append(node)
    state.netlist = state.netlist.with_nodes(nodes)
    state.info["fsms"] = report
