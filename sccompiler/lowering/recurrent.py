"""LSTM/GRU -> SC nodes: the parts both cells share (docs/compiler.md §3, the datapath).

Per layer: the input and state registers, the gates (``table``: exact XNOR + popcount into a
folded affine + activation table, or ``integral_wfsm``: operand streams into XNOR + APC banks
driving WFSMs, :mod:`.lstm` / :mod:`.gru`), the cell update (LSTM) or MUX (GRU), and h's counter
and decode.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedOpError
from ..ir.model import GRU, LSTM
from ..ir.sc import SCNode
from ..sim.rules import covering_scale
from .common import GATE_NAMES, GateDerived, Lowered, gate_act_codes, node
from .gru import lower_gru_integral
from .lstm import general_bn, general_units, lower_lstm_cell, lower_lstm_integral, lower_lstm_integral_bn
from .plans import FoldedRecurrent, RecurrentPlan


def _table_gates(lay: LSTM | GRU, plan: RecurrentPlan, f: FoldedRecurrent) -> list[SCNode]:
    """Exact pre-activations (XNOR + popcount of exact x and sign(h)) into one gate table, whose
    values become the gate streams."""
    n, H, I = lay.name, lay.hidden_size, lay.input_size
    G = plan.gate_count
    xs = plan.input.scale
    nodes = [
        node(f"{n}.kx", "xnor_popcount", (f"{n}.x",), (G * H,), n, "integral", (-I, I),
             {"operand_scale": xs}, {"weights": f.w_ih}),
        node(f"{n}.kh", "xnor_popcount", (f"{n}.h_prev",), (G * H,), n, "integral", (-H, H),
             {"operand_scale": 1.0, **({"skip_zero": True} if plan.hidden == "ternary" else {})},
             {"weights": f.w_hh}),
    ]
    tables = {"ax": f.scale_x * f.alpha_ih * xs, "ah": f.scale_h * f.alpha_hh,
              "act": gate_act_codes(lay.kind, H)[:G * H]}
    if isinstance(lay, LSTM):
        tables["shift"] = f.shift
    else:
        tables["shift_x"], tables["shift_h"] = f.shift_x, f.shift_h
    nodes.append(node(f"{n}.gates", "gate_table", (f"{n}.kx", f"{n}.kh"), (G * H,), n, "binary", (-1, 1),
                      {"cell": lay.kind, "hidden": H, "input_bits": int(math.ceil(math.log2(I + H + 1))) + 1,
                       "output_bits": plan.sng_bits}, tables))
    for k, gname in enumerate(GATE_NAMES[lay.kind][:G]):
        if isinstance(lay, GRU) and gname == "r":
            continue  # r only enters n's table
        enc = "unipolar" if (isinstance(lay, GRU) and gname == "z") else "bipolar"
        nodes.append(node(f"{n}.{gname}_s", "encode", (f"{n}.gates",), (H,), n, enc,
                          (0 if enc == "unipolar" else -1, 1),
                          {"rows": [k * H, (k + 1) * H], "scale": 1.0, "repeat": 1}))
    return nodes


def _integral_gates(lay: LSTM | GRU, plan: RecurrentPlan, f: FoldedRecurrent) -> Lowered:
    """Integral WFSM gates: every operand a bipolar stream in a common unit u."""
    n, I = lay.name, lay.input_size
    R = float(plan.input.range)
    sx, sh = f.scale_x, f.scale_h
    if general_bn(sx, sh):                       # per-step and/or per-row bn_x/bn_h ratios
        if isinstance(lay, LSTM):
            return lower_lstm_integral_bn(lay, plan, f, R)
        units = general_units(lay, f, R)
        low = lower_gru_integral(lay, plan, f, units.unit, units.x_node, units.a_h, units.scale_h)
        return Lowered(low.nodes, GateDerived(unit=low.derived.unit, bias_streams=low.derived.bias_streams,
                                              x_streams=units.x_streams, bn_gate_tables=units.tables))
    if not (np.all(np.isfinite(sx)) and np.all(np.isfinite(sh)) and np.all(sh != 0)):
        raise UnsupportedOpError("batch norm", n, "a zero or non-finite bn_h scale leaves no common unit "
                                 "for the integral gate operands; use --set gate_input=table")
    ratio = sx[0] / sh[0]                          # time-invariant, one ratio for all rows here
    ax = float(f.alpha_ih * ratio[0])              # x part unit relative to the h part's BN scale
    ah = float(f.alpha_hh)
    if not (np.isfinite(ax) and ax != 0 and np.all(sh[0] != 0)):
        raise UnsupportedOpError("batch norm", n, "a zero or non-finite batch-norm scale leaves no common unit "
                                 "for the integral gate operands; use --set gate_input=table")
    u = max(abs(ax) * R, ah)                       # |x a_x/u| <= 1 and |h a_h/u| <= 1
    srow = sh[0]                                   # per-row BN scale of the whole pre-activation
    if isinstance(lay, GRU):
        x_node = node(f"{n}.x_s", "encode", (f"{n}.x",), (I,), n, "bipolar", (-1, 1),
                      {"scale": covering_scale(u / ax, R), "repeat": 1})
        return lower_gru_integral(lay, plan, f, u, x_node, ah, srow[None])
    return lower_lstm_integral(lay, plan, f, u, ax, ah, srow)


def _h_decode(lay: LSTM | GRU, plan: RecurrentPlan) -> dict:
    """The params of h's decode: sign, bipolar value, or the ternary state against the layer's
    threshold r (the integer threshold follows the run's L: ``sim.rules.ternary_count_threshold``)."""
    if plan.hidden == "ternary":
        return {"mode": "ternary", "threshold": float(lay.hidden_threshold), "bits": plan.sng_bits}
    return {"mode": "sign" if plan.hidden == "sign" else "bipolar", "bits": plan.sng_bits}


def lower_recurrent(lay: LSTM | GRU, plan: RecurrentPlan, f: FoldedRecurrent, source: str) -> Lowered:
    """An LSTM/GRU layer reading ``source`` (the previous layer's output node) per time step."""
    n, H, I, L = lay.name, lay.hidden_size, lay.input_size, plan.length
    nodes = [node(f"{n}.x", "input", (), (I,), n, "binary", (-plan.input.range, plan.input.range),
                  {"exact": plan.input.exact, "scale": plan.input.scale, "source": source}),
             node(f"{n}.h_prev", "register", (), (H,), n, "binary", (-1, 1), {"next": f"{n}.h", "reset": 0.0})]
    if isinstance(lay, LSTM):
        K = plan.cell_range
        nodes.append(node(f"{n}.c_prev", "register", (), (H,), n, "binary", (-K, K), {"next": f"{n}.c", "reset": 0.0}))
    if plan.gate_count < len(GATE_NAMES[lay.kind]):
        f = f.first_rows(plan.gate_count * H)
    if plan.gate_input == "table":
        gates = Lowered(tuple(_table_gates(lay, plan, f)))
    else:
        gates = _integral_gates(lay, plan, f)
    nodes += gates.nodes
    if isinstance(lay, LSTM):
        nodes += lower_lstm_cell(lay, plan, f)
    else:
        nodes += [
            node(f"{n}.hp_s", "encode", (f"{n}.h_prev",), (H,), n, "bipolar", (-1, 1), {"scale": 1.0, "repeat": 1}),
            node(f"{n}.h_bits", "mux", (f"{n}.z_s", f"{n}.hp_s", f"{n}.n_s"), (H,), n, "bipolar"),
        ]
    if nodes[-1].name == f"{n}.h":               # h decided from the cell state (sign_from: cell)
        return Lowered(tuple(nodes), gates.derived)
    nodes += [
        node(f"{n}.h_cnt", "counter", (f"{n}.h_bits",), (H,), n, "binary", (0, L)),
        node(f"{n}.h", "decode", (f"{n}.h_cnt",), (H,), n, "binary", (-1, 1), _h_decode(lay, plan)),
    ]
    return Lowered(tuple(nodes), gates.derived)
