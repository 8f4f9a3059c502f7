"""GRU lowering with integral-WFSM gates (either ``linear_before_reset``)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..ir.model import GRU
from ..ir.sc import SCNode
from ..sim.rules import stats_rows
from .common import ACT_CODE, GateDerived, Lowered, node
from .plans import FoldedRecurrent, RecurrentPlan
from .wfsm_banks import bias_bank, gate_wfsm


def lower_gru_integral(lay: GRU, plan: RecurrentPlan, f: FoldedRecurrent, u: float, x_node: SCNode, ah: float,
                       srow: np.ndarray) -> Lowered:
    """Integral-WFSM GRU (linear_before_reset=1), every operand a bipolar stream in unit u:

    r, z: APC over x, h and bias operands -> WFSM (z's FSM is unipolar: it selects the MUX);
    n: the h part ``W_hn h + b_hn`` as an integral stream, multiplied by r's stream (each of its
    operand bits XNOR r: the integral value flips sign with r's bit), plus the x part -> tanh WFSM;
    h_t = MUX(z; h_{t-1}, n), counted.

    ``linear_before_reset=0`` (ONNX default, n = tanh(W_in x + b_in + W_hn (r*h) + b_hn)): the
    product r*h comes first, per element an XNOR of r's bipolar stream with h's (value
    r h a_h/u); an XNOR+APC bank with W_hn over these H streams gives the h part of n, which
    adds to the x part and both n biases in one APC before the tanh WFSM.

    ``srow``: the bn_h scales (T, 3H), T > 1 for per-step statistics (bias constants and WFSM
    tables then switch per step); ``x_node``: the x stream bank (shared, or per row with
    per-step gains: see :func:`sccompiler.lowering.lstm.general_units`).
    """
    n, H, I = lay.name, lay.hidden_size, lay.input_size
    if plan.bias_encoding != "streams":
        raise ConfigError(f"layers.{n}.bias_encoding: the integral GRU supports 'streams' only")
    T = srow.shape[0]
    idx = stats_rows(T, f.shift_x.shape[0])
    sx = f.shift_x[idx] / srow / u                      # (T, 3H)
    sh = f.shift_h[stats_rows(T, f.shift_h.shape[0])] / srow / u
    gains = srow * u if T > 1 else srow[0] * u
    rz, nn = slice(0, 2 * H), slice(2 * H, 3 * H)
    wi, wh = f.w_ih, f.w_hh
    lbr = bool(lay.linear_before_reset)
    nodes = [
        x_node,
        node(f"{n}.h_s", "encode", (f"{n}.h_prev",), (H,), n, "bipolar", (-1, 1), {"scale": u / ah, "repeat": 1}),
        node(f"{n}.px", "xnor_apc", (f"{n}.x_s",), (3 * H,), n, "integral", (-I, I), {}, {"weights": wi}),
        # linear_before_reset=0: only the r, z rows read h directly (n's rows read r*h below)
        node(f"{n}.ph", "xnor_apc", (f"{n}.h_s",), (3 * H if lbr else 2 * H,), n, "integral", (-H, H), {},
             {"weights": wh if lbr else wh[rz]}),
    ]
    for part, rows in (("px", rz), ("ph", rz), ("px", nn), ("ph", nn)):
        if part == "ph" and rows is nn and not lbr:
            continue
        tag = "rz" if rows is rz else "n"
        nodes.append(node(f"{n}.{part}_{tag}", "islice", (f"{n}.{part}",), (rows.stop - rows.start,), n,
                          "integral", (-I - H, I + H), {"rows": [rows.start, rows.stop]}))
    b_rz, nb_rz = bias_bank(f"{n}.b_rz", n, (sx + sh)[:, rz])
    b_xn, nb_xn = bias_bank(f"{n}.b_xn", n, sx[:, nn])
    b_hn, nb_hn = bias_bank(f"{n}.b_hn", n, sh[:, nn])
    nodes += b_rz + b_xn + b_hn
    m_rz = np.abs(wi[rz]).sum(1) + np.abs(wh[rz]).sum(1) + nb_rz
    m_hn = np.abs(wh[nn]).sum(1) + nb_hn
    m_n = np.abs(wi[nn]).sum(1) + m_hn + nb_xn
    top_rz = int(m_rz.max())
    nodes.append(node(f"{n}.pre_rz", "apc", (f"{n}.px_rz", f"{n}.ph_rz", *[b.name for b in b_rz]), (2 * H,), n,
                      "integral", (-top_rz, top_rz)))
    nodes.append(node(f"{n}.pre_r", "islice", (f"{n}.pre_rz",), (H,), n, "integral", (-top_rz, top_rz),
                      {"rows": [0, H]}))
    nodes.append(node(f"{n}.pre_z", "islice", (f"{n}.pre_rz",), (H,), n, "integral", (-top_rz, top_rz),
                      {"rows": [H, 2 * H]}))
    sig = np.zeros(H)
    nodes.append(gate_wfsm(f"{n}.r_s", f"{n}.pre_r", plan, sig, gains[..., :H], m_rz[:H]))
    nodes.append(gate_wfsm(f"{n}.z_s", f"{n}.pre_z", plan, sig + ACT_CODE["sigmoid_unipolar"], gains[..., H:2 * H],
                           m_rz[H:], "unipolar"))
    if lbr:
        top_hn = int(m_hn.max())
        nodes.append(node(f"{n}.hn", "apc", (f"{n}.ph_n", *[b.name for b in b_hn]), (H,), n, "integral",
                          (-top_hn, top_hn)))
        nodes.append(node(f"{n}.r_hn", "xnor_int", (f"{n}.r_s", f"{n}.hn"), (H,), n, "integral",
                          (-top_hn, top_hn), {"operands": top_hn}))
        n_parts = (f"{n}.px_n", f"{n}.r_hn", *[b.name for b in b_xn])
    else:
        nodes.append(node(f"{n}.rh", "xnor", (f"{n}.r_s", f"{n}.h_s"), (H,), n, "bipolar"))
        nodes.append(node(f"{n}.ph_n", "xnor_apc", (f"{n}.rh",), (H,), n, "integral", (-H, H), {},
                          {"weights": wh[nn]}))
        n_parts = (f"{n}.px_n", f"{n}.ph_n", *[b.name for b in b_xn], *[b.name for b in b_hn])
    nodes.append(node(f"{n}.pre_n", "apc", n_parts, (H,), n, "integral", (-int(m_n.max()), int(m_n.max()))))
    nodes.append(gate_wfsm(f"{n}.n_s", f"{n}.pre_n", plan, sig + ACT_CODE["tanh"], gains[..., 2 * H:], m_n))
    return Lowered(tuple(nodes), GateDerived(unit=u, bias_streams=nb_rz + nb_xn + nb_hn))
