"""LSTM lowering: integral-WFSM gates (one bn_x/bn_h ratio, or general per-step / per-row batch
norm) and the cell: c_t = f c_{t-1} + i g as an integral stream, its counter and tanh(c) WFSM."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..ir.model import LSTM
from ..ir.sc import SCNode
from ..sim.rules import cell_sign_thresholds, covering_gain, covering_scale, stats_rows
from .common import GATE_NAMES, GateDerived, Lowered, gate_act_codes, node
from .plans import FoldedRecurrent, RecurrentPlan
from .wfsm_banks import cell_wfsm, gate_wfsm


def general_bn(sx: np.ndarray, sh: np.ndarray) -> bool:
    """True when bn_x/bn_h need the general integral lowering: per-step statistics, or bn_x/bn_h
    scales not in one ratio across rows (both with finite, non-zero bn_h scales)."""
    if not (np.all(np.isfinite(sx)) and np.all(np.isfinite(sh)) and np.all(sh != 0)):
        return False                              # the shared path raises its clear error
    ratio = sx / sh
    return sx.shape[0] > 1 or sh.shape[0] > 1 or not np.allclose(ratio, ratio[:, :1], rtol=1e-9)


@dataclass(frozen=True, eq=False)
class GeneralUnits:
    """Units of integral gates under general bn_x/bn_h: statistics rows ``tables``, the bn_h
    scales (T, rows), the unit u, a_h, the x stream bank node and how it is banked."""

    tables: int
    scale_h: np.ndarray
    unit: float
    a_h: float
    x_node: SCNode
    x_streams: str


def general_units(lay, f: FoldedRecurrent, R: float) -> GeneralUnits:
    """The x streams carry ``x rho_t a_x / u`` (rho = s^x / s^h): one bank shared by all rows
    when rho is constant across rows, else one stream per (row, input)."""
    n, I = lay.name, lay.input_size
    sx, sh = f.scale_x, f.scale_h
    T = max(sx.shape[0], sh.shape[0])
    sx, sh = sx[stats_rows(T, sx.shape[0])], sh[stats_rows(T, sh.shape[0])]
    ax = f.alpha_ih * sx / sh                                     # (T, rows)
    ah = float(f.alpha_hh)
    u = max(float(np.abs(ax).max()) * R, ah)
    shared = bool(np.allclose(ax, ax[:, :1], rtol=1e-9))
    rows = sx.shape[1]
    streams = "shared" if shared else "per_row"
    x_node = node(f"{n}.x_s", "encode", (f"{n}.x",), (I,) if shared else (rows, I), n, "bipolar", (-1, 1),
                  {"x_streams": streams}, {"gain": covering_gain((ax[:, :1] if shared else ax) / u, R)})
    return GeneralUnits(T, sh, u, ah, x_node, streams)


def _gate_slices(n: str, H: int, G: int) -> list[SCNode]:
    return [node(f"{n}.{g}_s", "slice", (f"{n}.gates_s",), (H,), n, "bipolar", (-1, 1), {"rows": [k * H, (k + 1) * H]})
            for k, g in enumerate(GATE_NAMES["lstm"][:G])]


def lower_lstm_integral(lay: LSTM, plan: RecurrentPlan, f: FoldedRecurrent, u: float, ax: float, ah: float,
                        srow: np.ndarray) -> Lowered:
    """Integral gates with time-invariant bn_x/bn_h in one ratio: x and h streams in unit u, bias
    as constant streams (``bias_encoding: streams``) or a wired APC offset plus one stream for the
    fraction (``offset``)."""
    n, H, I, G = lay.name, lay.hidden_size, lay.input_size, plan.gate_count
    shift = f.shift[0] / srow                      # bias in the same units
    if plan.bias_encoding == "offset":
        # integer part of b/u: a wired constant increment of the APC; the rest in [-1/2, 1/2] one
        # constant-value SNG
        offset = np.rint(shift / u).astype(np.int64)
        frac = (shift / u - offset)[None, :]
        nb = 1 if np.any(np.abs(frac) > 1e-12) else 0
    else:
        # ceil(max|b|/u) constant-value SNGs per row, each b/(u nb): only random +-1 operands
        offset = np.zeros(shift.shape, dtype=np.int64)
        nb = int(math.ceil(float(np.max(np.abs(shift))) / u - 1e-12)) if np.any(shift != 0) else 0
        frac = np.tile(shift / (u * max(nb, 1)), (max(nb, 1), 1))
    # gate_sngs=per_gate: one x/h SNG bank per gate (rows k H..(k+1) H read bank k), so the four
    # gates of a cell integrate independent operand bits (the i*g, o*tanh(c) XNORs then multiply);
    # shared: one bank read by all rows (correlated gate streams)
    ng = G if plan.gate_sngs == "per_gate" else 1
    xs_shape, hs_shape = ((G, I), (G, H)) if ng > 1 else ((I,), (H,))
    grp = {"groups": G} if ng > 1 else {}
    x_scale = covering_scale(u / ax, float(plan.input.range))   # every |x| <= R encodes into [-1, 1]
    nodes = [
        node(f"{n}.x_s", "encode", (f"{n}.x",), xs_shape, n, "bipolar", (-1, 1), {"scale": x_scale, "repeat": ng}),
        node(f"{n}.h_s", "encode", (f"{n}.h_prev",), hs_shape, n, "bipolar", (-1, 1), {"scale": u / ah, "repeat": ng}),
        node(f"{n}.px", "xnor_apc", (f"{n}.x_s",), (G * H,), n, "integral", (-I, I), grp, {"weights": f.w_ih}),
        node(f"{n}.ph", "xnor_apc", (f"{n}.h_s",), (G * H,), n, "integral", (-H, H), grp, {"weights": f.w_hh}),
    ]
    pre_inputs = [f"{n}.px", f"{n}.ph"]
    if nb:
        nodes.append(node(f"{n}.b_s", "encode", (), (nb, G * H), n, "bipolar", (-1, 1), {"repeat": nb},
                          {"const": frac}))
        pre_inputs.append(f"{n}.b_s")
    M = np.abs(f.w_ih).sum(1) + np.abs(f.w_hh).sum(1) + nb
    top = int((M + np.abs(offset)).max())
    nodes.append(node(f"{n}.pre", "apc", pre_inputs, (G * H,), n, "integral", (-top, top), {}, {"offset": offset}))
    nodes.append(gate_wfsm(f"{n}.gates_s", f"{n}.pre", plan, gate_act_codes("lstm", H)[:G * H], srow * u,
                           M + np.abs(offset)))
    nodes += _gate_slices(n, H, G)
    return Lowered(tuple(nodes), GateDerived(unit=u, bias_streams=nb,
                                             bias_offset_max=int(np.abs(offset).max()) if offset.size else 0))


def lower_lstm_integral_bn(lay: LSTM, plan: RecurrentPlan, f: FoldedRecurrent, R: float) -> Lowered:
    """Integral-WFSM LSTM gates with general bn_x/bn_h: per-step statistics and/or per-row
    bn_x/bn_h scale ratios rho_tr = s^x_tr / s^h_tr.  Row r's pre-activation over s^h_tr is
    ``rho_tr a_x (W x)_r + a_h (W h)_r + shift_tr / s^h_tr``, in the unit u = max(max|rho a_x| R, a_h):

    * x streams: value ``x rho_t a_x / u``; shared by all rows when rho is constant across rows
      (I SNGs, the SNG's input gain switching per step), else one stream per (row, input)
      (4H x I SNGs: the XNOR+APC bank then reads per-row streams);
    * bias streams: ceil(max over steps and rows of |shift/(s^h u)|) constant SNGs per row whose
      constant switches per step;
    * WFSM targets act(s^h_tr u z): a bank of per-step weight tables (wq (T, G, N)) as for bn_c.
    Steps beyond the last statistics row use the last row (``BatchNormParams.at``)."""
    n, H, I, G = lay.name, lay.hidden_size, lay.input_size, plan.gate_count
    if plan.bias_encoding != "streams":
        raise ConfigError(f"layers.{n}.bias_encoding: 'offset' needs time-invariant bn_x/bn_h in a constant ratio "
                          "across rows; use --set bias_encoding=streams")
    units = general_units(lay, f, R)
    T, sh, u, ah, x_node = units.tables, units.scale_h, units.unit, units.a_h, units.x_node
    x_streams = units.x_streams
    shift = f.shift[stats_rows(T, f.shift.shape[0])]
    rows = G * H
    bias = shift / sh / u                                         # (T, rows)
    nb = int(math.ceil(float(np.max(np.abs(bias))) - 1e-12)) if np.any(bias != 0) else 0
    ng = G if plan.gate_sngs == "per_gate" else 1                # one x/h SNG bank per gate (see lower_lstm_integral)
    xgrp = hgrp = {"groups": G} if ng > 1 else {}
    if ng > 1 and x_node.shape == (I,):                           # shared x bank -> one per gate, same gain
        x_node = x_node.replace(shape=(G, I), params={**x_node.params, "repeat": G, "x_streams": "per_gate"},
                                arrays={"gain": np.repeat(x_node.arrays["gain"], G, axis=1)})
        x_streams = "per_gate"
    elif ng > 1:
        xgrp = {}                                                 # per-row x streams are independent already
    nodes = [
        x_node,
        node(f"{n}.h_s", "encode", (f"{n}.h_prev",), (G, H) if ng > 1 else (H,), n, "bipolar", (-1, 1),
             {"scale": u / ah, "repeat": ng}),
        node(f"{n}.px", "xnor_apc", (f"{n}.x_s",), (rows,), n, "integral", (-I, I), xgrp, {"weights": f.w_ih}),
        node(f"{n}.ph", "xnor_apc", (f"{n}.h_s",), (rows,), n, "integral", (-H, H), hgrp, {"weights": f.w_hh}),
    ]
    pre_inputs = [f"{n}.px", f"{n}.ph"]
    if nb:
        const = np.repeat((bias / nb)[:, None, :], nb, axis=1)    # (T, nb, rows)
        nodes.append(node(f"{n}.b_s", "encode", (), (nb, rows), n, "bipolar", (-1, 1), {"repeat": nb},
                          {"const": const if T > 1 else const[0]}))
        pre_inputs.append(f"{n}.b_s")
    M = np.abs(f.w_ih).sum(1) + np.abs(f.w_hh).sum(1) + nb
    nodes.append(node(f"{n}.pre", "apc", pre_inputs, (rows,), n, "integral", (-int(M.max()), int(M.max()))))
    nodes.append(gate_wfsm(f"{n}.gates_s", f"{n}.pre", plan, gate_act_codes("lstm", H)[:G * H],
                           sh * u if T > 1 else sh[0] * u, M))
    nodes += _gate_slices(n, H, G)
    return Lowered(tuple(nodes), GateDerived(unit=u, bias_streams=nb, bias_offset_max=0, x_streams=x_streams,
                                             bn_gate_tables=T))


def lower_lstm_cell(lay: LSTM, plan: RecurrentPlan, f: FoldedRecurrent) -> list[SCNode]:
    """c_t = f c_{t-1} + i g: c_{t-1} re-encoded as K streams of c/K, the sum an integral stream
    of K + 1 bits, counted into c_t (saturated to [-K, K]) and fed to the tanh(c) WFSM;
    h_bits = o XNOR tanh(c).  With ``sign_from: cell`` the cell ends in h itself: sign(BNc(c_t))
    from c's count (:func:`~sccompiler.sim.rules.cell_sign_thresholds`)."""
    n, H, K, L = lay.name, lay.hidden_size, plan.cell_range, plan.length
    nodes = [
        node(f"{n}.c_s", "encode", (f"{n}.c_prev",), (K, H), n, "bipolar", (-1, 1), {"scale": float(K), "repeat": K}),
        node(f"{n}.fc", "xnor", (f"{n}.f_s", f"{n}.c_s"), (K, H), n, "bipolar"),
        node(f"{n}.ig", "xnor", (f"{n}.i_s", f"{n}.g_s"), (H,), n, "bipolar"),
        node(f"{n}.c_sum", "apc", (f"{n}.fc", f"{n}.ig"), (H,), n, "integral", (-(K + 1), K + 1)),
        node(f"{n}.c_cnt", "updown_counter", (f"{n}.c_sum",), (H,), n, "integral", (-(K + 1) * L, (K + 1) * L)),
        node(f"{n}.c", "decode", (f"{n}.c_cnt",), (H,), n, "binary", (-K, K),
             {"mode": "integral", "saturate": float(K), "bits": plan.sng_bits}),
    ]
    if plan.hidden == "sign" and plan.sign_from == "cell":
        # h = sign(o tanh(BNc(c))) = sign(BNc(c)) (o > 0): a threshold on c's count, per step
        ge, thr = cell_sign_thresholds(f.scale_c, f.shift_c, K, L, H)
        return nodes + [node(f"{n}.h", "decode", (f"{n}.c_cnt",), (H,), n, "binary", (-1, 1),
                             {"mode": "cell_sign", "bits": plan.sng_bits}, {"ge": ge, "thr": thr})]
    return nodes + [
        cell_wfsm(f"{n}.tanh_c", f"{n}.c_sum", plan, f, H),
        node(f"{n}.h_bits", "xnor", (f"{n}.o_s", f"{n}.tanh_c"), (H,), n, "bipolar"),
    ]
