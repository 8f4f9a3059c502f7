"""The built-in passes and flows (one idea per pass; docs/compiler.md describes the datapath).

Flow ``default``::

    check_model -> calibrate* -> plan_datapath -> fold_batchnorm -> lower_layers
      -> synthesize_fsms* -> allocate_sources -> schedule_length* -> correlation_report* -> cost*

(* optional: may be disabled by name for ablations).  Flow ``lower`` stops after
``allocate_sources`` (the scheduler re-lowers with it); ``fast`` is ``default`` without the
correlation report.
"""

from __future__ import annotations

import math

import numpy as np

from ..config import MAX_FSM_STATES
from ..errors import ConfigError, InvalidWeightsError, UnsupportedOpError
from ..ir.model import GRU, LSTM, Activation, BatchNorm, Embedding, Linear, Tensor
from ..ir.sc import LayerPlan, SCNetlist, SCNode
from ..quantize.bnfold import bn_affine, bn_affine_table
from . import CompileState, register_flow, register_pass

#: gate activations per row block, in the IR's gate orders
GATE_ACTS = {"lstm": ("sigmoid", "sigmoid", "tanh", "sigmoid"), "gru": ("sigmoid", "sigmoid", "tanh")}
ACT_CODE = {"sigmoid": 0, "tanh": 1, "sigmoid_unipolar": 2}
#: calibration samples kept for input models and scheduling
MAX_CALIBRATION = 64


# ------------------------------------------------------------------------------------- helpers
def weight_levels(t: Tensor | None, what: str, layer: str) -> tuple[np.ndarray, float]:
    """(integer weights in {-1, 0, 1} as int8, scale alpha) of a binary/ternary tensor."""
    if t is None:
        raise InvalidWeightsError(f"layer {layer!r}: {what} is missing")
    data = t.data
    nz = np.abs(data[data != 0])
    if nz.size == 0:
        return np.zeros(data.shape, dtype=np.int8), 1.0
    alpha = float(nz.max())
    if not np.allclose(nz, alpha, rtol=1e-6, atol=0):
        raise UnsupportedOpError(
            "float-weights", layer,
            f"{what} takes {np.unique(np.round(data, 12)).size} distinct values; the SC datapath needs "
            "binary or ternary weights (every multiplication an XNOR): quantize the model first, "
            "e.g. `scc quantize MODEL --scheme binary`")
    return np.round(data / alpha).astype(np.int8), alpha


def exact_levels(values: np.ndarray) -> float | None:
    """The level a if every value is in {-a, 0, a} (a > 0), else None."""
    v = np.asarray(values, dtype=np.float64)
    nz = np.abs(v[v != 0])
    if nz.size == 0:
        return 1.0
    a = float(nz.max())
    return a if np.allclose(nz, a, rtol=1e-9, atol=0) else None


def _affine_tables(bn, rows: int, steps: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) as (T, rows) arrays (T = 1 when not per-step)."""
    if bn is None:
        return np.ones((1, rows)), np.zeros((1, rows))
    if bn.per_step:
        s, m = bn_affine_table(bn, bn.mean.shape[0])
        return np.array(s), np.array(m)
    s, m = bn_affine(bn)
    return s[None, :].copy(), m[None, :].copy()


def _bias(t: Tensor | None, rows: int) -> np.ndarray:
    return np.zeros(rows) if t is None else t.data.astype(np.float64)


# ------------------------------------------------------------------------------------- passes
@register_pass("check_model", description="reject unsupported layers, weights and config/model mismatches")
def check_model(state: CompileState) -> None:
    model = state.model.validate()
    names = {lay.name for lay in model.layers}
    unknown = sorted(n for n, _ in state.config.layers if n not in names)
    if unknown:
        raise ConfigError(f"config overrides unknown layer(s) {', '.join(map(repr, unknown))}; "
                          f"model layers: {', '.join(sorted(names))}")
    if not any(isinstance(lay, (LSTM, GRU)) for lay in model.layers):
        raise UnsupportedOpError("model", None, "the SC compiler needs at least one LSTM or GRU layer")
    for lay in model.layers:
        if isinstance(lay, LSTM):
            weight_levels(lay.w_ih, "w_ih", lay.name)
            weight_levels(lay.w_hh, "w_hh", lay.name)
        elif isinstance(lay, GRU):
            weight_levels(lay.w_ih, "w_ih", lay.name)
            weight_levels(lay.w_hh, "w_hh", lay.name)
        elif isinstance(lay, Linear):
            weight_levels(lay.weight, "weight", lay.name)
        elif isinstance(lay, Activation) and lay.function == "softmax" and lay is not model.layers[-1]:
            raise UnsupportedOpError("softmax", lay.name, "softmax is only supported as the last layer")


@register_pass("calibrate", optional=True, requires=("check_model",),
               description="run the quantized reference on calibration inputs: ranges, levels, operand statistics")
def calibrate(state: CompileState) -> None:
    if state.calibration is None:
        state.info["calibration"] = {"samples": 0}
        return
    from ..reference import forward  # noqa: PLC0415

    x = np.asarray(state.calibration)
    x = x[:MAX_CALIBRATION]
    out, trace = forward(state.model, x, return_trace=True)
    stats: dict = {"samples": int(x.shape[0]), "steps": int(x.shape[1])}
    if state.model.input.kind == "features":
        stats["input_max_abs"] = float(np.max(np.abs(x)))
        stats["input_levels"] = exact_levels(x)
    for lay in state.model.layers:
        rec = trace.get(lay.name, {})
        entry = {}
        for key in ("c", "h", "pre", "out"):
            if key in rec:
                entry[f"{key}_max_abs"] = float(np.max(np.abs(rec[key])))
        stats[lay.name] = entry
    state.info["calibration"] = stats
    state.info["_trace"] = trace
    state.info["_calibration_inputs"] = x


@register_pass("plan_datapath", requires=("check_model",),
               description="choose per layer: gate input (table / integral WFSM), hidden encoding, L, SNG width, operand scales")
def plan_datapath(state: CompileState) -> None:
    cfg = state.config
    model = state.model
    calib = state.info.get("calibration", {})
    # what the first layer sees
    if model.input.kind == "tokens":
        feed = {"exact": False, "scale": 1.0, "range": 1.0}
    else:
        lv = calib.get("input_levels") if cfg.input_encoding == "auto" else None
        rng = cfg.input_range or calib.get("input_max_abs") or 1.0
        if cfg.input_encoding == "exact":
            feed = {"exact": True, "scale": float(cfg.input_range or calib.get("input_max_abs") or 1.0), "range": rng}
        elif lv is not None and cfg.input_encoding == "auto":
            feed = {"exact": True, "scale": float(lv), "range": float(lv)}
        else:
            feed = {"exact": False, "scale": 1.0, "range": float(rng)}
    plan: dict[str, dict] = {}
    prev_length = cfg.length
    for lay in model.layers:
        lc = cfg.layer(lay.name)
        p: dict = {"kind": lay.kind, "input": dict(feed)}
        if isinstance(lay, Embedding):
            lv = exact_levels(lay.weight.data)
            feed = {"exact": lv is not None, "scale": float(lv or 1.0),
                    "range": float(np.max(np.abs(lay.weight.data)) or 1.0)}
        elif isinstance(lay, (LSTM, GRU)):
            length = cfg.layer_length(lay.name)
            prev_length = length
            exact = bool(feed["exact"])
            mode = lc.gate_input
            # linear_before_reset=0: r*h enters W_hn, a real-valued operand vector that only the
            # stream datapath (XNOR of r's stream with h's) can form
            reset_first = isinstance(lay, GRU) and not lay.linear_before_reset
            if mode == "auto":
                mode = "table" if exact and lc.hidden == "sign" and not reset_first else "integral_wfsm"
            if mode == "table" and reset_first:
                raise ConfigError(f"layers.{lay.name}.gate_input: 'table' cannot lower GRU linear_before_reset=0 "
                                  "(W_hn (r*h) has real-valued operands r*h); use gate_input='integral_wfsm'")
            if mode == "table" and not (exact and lc.hidden == "sign"):
                why = "its input x is multi-level" if not exact else "hidden='stream' makes h multi-level"
                raise ConfigError(f"layers.{lay.name}.gate_input: 'table' needs exact (binary/ternary) operands, but "
                                  f"{why}; use gate_input='integral_wfsm' or hidden='sign' with binary inputs")
            if lc.gate_sngs == "per_gate" and isinstance(lay, GRU) and mode == "integral_wfsm":
                raise ConfigError(f"layers.{lay.name}.gate_sngs: 'per_gate' is implemented for LSTM layers only; "
                                  "use gate_sngs='shared' for GRU layers")
            p.update(length=length, sng_bits=lc.bits_for(length), gate_input=mode, hidden=lc.hidden,
                     cell_range=lc.cell_range, gate_fsm_states=lc.gate_fsm_states,
                     cell_fsm_states=lc.cell_fsm_states, fsm_tolerance=lc.fsm_tolerance, fsm_weight_bits=lc.fsm_weight_bits, fsm_state=lc.fsm_state,
                     bias_encoding=lc.bias_encoding, fsm_input_model=lc.fsm_input_model, bn_steps=lc.bn_steps,
                     gate_sngs=lc.gate_sngs)
            feed = ({"exact": True, "scale": 1.0, "range": 1.0} if lc.hidden == "sign"
                    else {"exact": False, "scale": 1.0, "range": 1.0})
        elif isinstance(lay, Linear):
            length = lc.length if lc.length is not None else prev_length
            p.update(length=length, sng_bits=lc.bits_for(length),
                     mode="exact" if feed["exact"] else "stream")
            # the range of what the next layer sees is a hard bound, not a calibration maximum:
            # the SC estimate of W x may reach any value the counter can hold
            _, alpha = weight_levels(lay.weight, "weight", lay.name)
            mag = feed["scale"] if feed["exact"] else feed["range"]
            bound = alpha * mag * float(np.abs(weight_levels(lay.weight, "weight", lay.name)[0]).sum(1).max()) \
                + float(np.max(np.abs(_bias(lay.bias, lay.out_size))))
            feed = {"exact": False, "scale": 1.0, "range": max(bound, 1e-12)}
        elif isinstance(lay, Activation):
            if lay.function == "sign":
                feed = {"exact": True, "scale": 1.0, "range": 1.0}
            elif lay.function in ("sigmoid", "tanh", "softmax"):
                feed = {"exact": False, "scale": 1.0, "range": 1.0}
            else:                                                   # relu / identity keep the bound
                feed = {"exact": False, "scale": 1.0, "range": feed["range"] if not feed["exact"] else feed["scale"]}
        elif isinstance(lay, BatchNorm):
            sc, sh = _affine_tables(lay.params, lay.params.features, None)
            mag = feed["scale"] if feed["exact"] else feed["range"]
            feed = {"exact": False, "scale": 1.0, "range": float(np.max(np.abs(sc) * mag + np.abs(sh)))}
        p["output"] = dict(feed)
        plan[lay.name] = p
    state.plan = plan


@register_pass("fold_batchnorm", requires=("plan_datapath",),
               description="fold batch norms and biases into per-row gate scales/offsets (tables or FSM targets)")
def fold_batchnorm(state: CompileState) -> None:
    from ..runtime.golden import design_layer  # noqa: PLC0415

    report = {}
    for lay in state.model.layers:
        if not isinstance(lay, (LSTM, GRU)):
            continue
        p = state.plan[lay.name]
        report[lay.name] = _bn_steps_report(lay, p)
        lay = design_layer(lay, p["bn_steps"])         # bn_steps last/mean: one affine per BN
        rows = lay.w_ih.shape[0]
        wi, ai = weight_levels(lay.w_ih, "w_ih", lay.name)
        wh, ah = weight_levels(lay.w_hh, "w_hh", lay.name)
        sx, mx = _affine_tables(lay.bn_x, rows, None)
        sh, mh = _affine_tables(lay.bn_h, rows, None)
        bi, bh = _bias(lay.b_ih, rows), _bias(lay.b_hh, rows)
        steps = max(sx.shape[0], sh.shape[0])
        idx_x = np.minimum(np.arange(steps), sx.shape[0] - 1)
        idx_h = np.minimum(np.arange(steps), sh.shape[0] - 1)
        folded = {"w_ih": wi, "w_hh": wh, "alpha_ih": ai, "alpha_hh": ah,
                  "scale_x": sx[idx_x], "scale_h": sh[idx_h]}
        if isinstance(lay, LSTM):
            folded["shift"] = mx[idx_x] + mh[idx_h] + bi + bh
        else:  # GRU: the n block of the h part stays separate (r multiplies it)
            folded["shift_x"] = mx[idx_x] + bi
            folded["shift_h"] = mh[idx_h] + bh
        if isinstance(lay, LSTM) and lay.bn_c is not None:
            folded["scale_c"], folded["shift_c"] = _affine_tables(lay.bn_c, lay.hidden_size, None)
        p["folded"] = folded
        p["bn_per_step"] = bool(steps > 1)
    state.info["batchnorm"] = {k: v for k, v in report.items() if v}


def _bn_steps_report(lay, p: dict) -> dict:
    """Per batch norm of ``lay``: statistics rows, how they are realized (``bn_steps``) and, for a
    collapsed per-step BN, the largest change of its affine over the rows (and, for bn_c, of the
    tanh(BNc(c)) target over c in [-K, K]): the accuracy a single table gives up."""
    from ..runtime.golden import collapse_batchnorm  # noqa: PLC0415

    out = {}
    for field, bn in lay.batchnorms():
        entry = {"rows": int(bn.mean.shape[0]) if bn.per_step else 1, "realized": "time-invariant"}
        if bn.per_step:
            entry["realized"] = "per-step tables" if p["bn_steps"] == "tables" else f"single ({p['bn_steps']} row)"
            if p["bn_steps"] != "tables":
                s, m = bn_affine_table(bn, bn.mean.shape[0])
                one = collapse_batchnorm(bn, p["bn_steps"])
                s1, m1 = bn_affine(one)
                entry["max_scale_change"] = float(np.max(np.abs(np.asarray(s) - s1)))
                entry["max_shift_change"] = float(np.max(np.abs(np.asarray(m) - m1)))
                if field == "bn_c":
                    c = np.linspace(-p["cell_range"], p["cell_range"], 201)[:, None, None]
                    dev = np.abs(np.tanh(np.asarray(s)[None] * c + np.asarray(m)[None]) - np.tanh(s1 * c + m1))
                    entry["max_tanh_target_change"] = float(dev.max())
        out[field] = entry
    return out


def _node(name, op, inputs, shape, layer, encoding="binary", rng=(-1.0, 1.0), params=None, arrays=None) -> SCNode:
    return SCNode(name, op, tuple(inputs), tuple(int(s) for s in shape), layer, encoding, (float(rng[0]), float(rng[1])),
                  dict(params or {}), dict(arrays or {}))


def _states(n: int | str) -> int:
    """A WFSM's state count before synthesis (``auto``: the smallest candidate; synthesize_fsms
    picks the final one)."""
    return 16 if n == "auto" else int(n)


def _stanh(n: int) -> np.ndarray:
    return (np.arange(n) >= n // 2).astype(np.float64)


def _fsm_arrays(states: int, bits: int, rows: int, groups: np.ndarray | None = None) -> dict:
    """Placeholder (Stanh) FSM tables until synthesize_fsms fills them: wq (G, N), group per row."""
    g = np.zeros(rows, dtype=np.int64) if groups is None else groups
    ng = int(g.max()) + 1 if g.size else 1
    wq = np.tile(np.floor(_stanh(states) * (1 << bits) + 0.5).astype(np.int64), (ng, 1))
    return {"wq": wq, "group": g}


def _lower_recurrent(lay, p: dict, cfg) -> list[SCNode]:
    """LSTM/GRU -> nodes (module docs/compiler.md §datapath)."""
    n = lay.name
    H = lay.hidden_size
    I = lay.input_size
    G = 4 if isinstance(lay, LSTM) else 3
    L, bits = p["length"], p["sng_bits"]
    f = p["folded"]
    acts = np.repeat([ACT_CODE[a] for a in GATE_ACTS[lay.kind]], H).astype(np.int8)
    common: dict = {}        # SNG width: chosen by the insert_sngs pass
    nodes = [_node(f"{n}.x", "input", (), (I,), n, "binary", (-p["input"]["range"], p["input"]["range"]),
                   {"exact": p["input"]["exact"], "scale": p["input"]["scale"]}),
             _node(f"{n}.h_prev", "register", (), (H,), n, "binary", (-1, 1), {"next": f"{n}.h", "reset": 0.0})]
    if isinstance(lay, LSTM):
        K = p["cell_range"]
        nodes.append(_node(f"{n}.c_prev", "register", (), (H,), n, "binary", (-K, K), {"next": f"{n}.c", "reset": 0.0}))
    if p["gate_input"] == "table":
        xs = p["input"]["scale"]
        nodes += [
            _node(f"{n}.kx", "xnor_popcount", (f"{n}.x",), (G * H,), n, "integral", (-I, I),
                  {"operand_scale": xs}, {"weights": f["w_ih"]}),
            _node(f"{n}.kh", "xnor_popcount", (f"{n}.h_prev",), (G * H,), n, "integral", (-H, H),
                  {"operand_scale": 1.0}, {"weights": f["w_hh"]}),
        ]
        tab_arrays = {"ax": f["scale_x"] * f["alpha_ih"] * xs, "ah": f["scale_h"] * f["alpha_hh"], "act": acts}
        if isinstance(lay, LSTM):
            tab_arrays["shift"] = f["shift"]
        else:
            tab_arrays["shift_x"], tab_arrays["shift_h"] = f["shift_x"], f["shift_h"]
        nodes.append(_node(f"{n}.gates", "gate_table", (f"{n}.kx", f"{n}.kh"), (G * H,), n, "binary", (-1, 1),
                           {"cell": lay.kind, "hidden": H, "input_bits": int(math.ceil(math.log2(I + H + 1))) + 1,
                            "output_bits": bits},
                           tab_arrays))
        gate_rows = {name: (k * H, (k + 1) * H) for k, name in enumerate(("i", "f", "g", "o") if G == 4 else ("r", "z", "n"))}
        for gname, (a, b) in gate_rows.items():
            if isinstance(lay, GRU) and gname == "r":
                continue  # r only enters n's table
            enc = "unipolar" if (isinstance(lay, GRU) and gname == "z") else "bipolar"
            nodes.append(_node(f"{n}.{gname}_s", "encode", (f"{n}.gates",), (H,), n, enc, (0 if enc == "unipolar" else -1, 1),
                               {**common, "rows": [a, b], "scale": 1.0, "repeat": 1}))
    else:
        # integral WFSM gates: every operand a bipolar stream in a common unit u
        R = p["input"]["range"]
        sx, sh = f["scale_x"], f["scale_h"]
        if _general_bn(sx, sh):                       # per-step and/or per-row bn_x/bn_h ratios
            if isinstance(lay, LSTM):
                nodes += _lower_lstm_integral_bn(lay, p, f, float(R), common)
            else:
                _, sh_t, u, ah, x_node = _general_units(lay, p, f, float(R), common)
                nodes += _lower_gru_integral(lay, p, f, u, x_node, ah, sh_t, common)
        else:
            if not (np.all(np.isfinite(sx)) and np.all(np.isfinite(sh)) and np.all(sh != 0)):
                raise UnsupportedOpError("batch norm", n, "a zero or non-finite bn_h scale leaves no common unit "
                                         "for the integral gate operands; use gate_input='table'")
            ratio = sx[0] / sh[0]                          # time-invariant, one ratio for all rows here
            ax = float(f["alpha_ih"] * ratio[0])          # x part unit relative to the h part's BN scale
            ah = float(f["alpha_hh"])
            if not (np.isfinite(ax) and ax != 0 and np.all(sh[0] != 0)):
                raise UnsupportedOpError("batch norm", n, "a zero or non-finite batch-norm scale leaves no common unit "
                                         "for the integral gate operands; use gate_input='table'")
            u = max(abs(ax) * R, ah)                       # |x a_x/u| <= 1 and |h a_h/u| <= 1
            srow = sh[0]                                   # per-row BN scale of the whole pre-activation
            if isinstance(lay, GRU):
                x_node = _node(f"{n}.x_s", "encode", (f"{n}.x",), (I,), n, "bipolar", (-1, 1),
                               {**common, "scale": u / ax, "repeat": 1})
                nodes += _lower_gru_integral(lay, p, f, u, x_node, ah, srow[None], common)
            else:
                shift = f["shift"][0] / srow                   # bias in the same units
                if p["bias_encoding"] == "offset":
                    # integer part of b/u: a wired constant increment of the APC; the rest in [-1/2, 1/2]
                    # one constant-value SNG
                    offset = np.rint(shift / u).astype(np.int64)
                    frac = (shift / u - offset)[None, :]
                    nb = 1 if np.any(np.abs(frac) > 1e-12) else 0
                else:
                    # ceil(max|b|/u) constant-value SNGs per row, each b/(u nb): only random +-1 operands
                    offset = np.zeros(shift.shape, dtype=np.int64)
                    nb = int(math.ceil(float(np.max(np.abs(shift))) / u - 1e-12)) if np.any(shift != 0) else 0
                    frac = np.tile(shift / (u * max(nb, 1)), (max(nb, 1), 1))
                # gate_sngs=per_gate: one x/h SNG bank per gate (rows k H..(k+1) H read bank k), so the
                # four gates of a cell integrate independent operand bits (the i*g, o*tanh(c) XNORs
                # then multiply); shared: one bank read by all rows (correlated gate streams)
                ng = G if p.get("gate_sngs") == "per_gate" else 1
                xs_shape, hs_shape = ((G, I), (G, H)) if ng > 1 else ((I,), (H,))
                grp = {"groups": G} if ng > 1 else {}
                nodes += [
                    _node(f"{n}.x_s", "encode", (f"{n}.x",), xs_shape, n, "bipolar", (-1, 1), {**common, "scale": u / ax, "repeat": ng}),
                    _node(f"{n}.h_s", "encode", (f"{n}.h_prev",), hs_shape, n, "bipolar", (-1, 1), {**common, "scale": u / ah, "repeat": ng}),
                    _node(f"{n}.px", "xnor_apc", (f"{n}.x_s",), (G * H,), n, "integral", (-I, I), grp, {"weights": f["w_ih"]}),
                    _node(f"{n}.ph", "xnor_apc", (f"{n}.h_s",), (G * H,), n, "integral", (-H, H), grp, {"weights": f["w_hh"]}),
                ]
                pre_inputs = [f"{n}.px", f"{n}.ph"]
                if nb:
                    nodes.append(_node(f"{n}.b_s", "encode", (), (nb, G * H), n, "bipolar", (-1, 1), {**common, "repeat": nb},
                                       {"const": frac}))
                    pre_inputs.append(f"{n}.b_s")
                M = np.abs(f["w_ih"]).sum(1) + np.abs(f["w_hh"]).sum(1) + nb
                top = int((M + np.abs(offset)).max())
                nodes.append(_node(f"{n}.pre", "apc", pre_inputs, (G * H,), n, "integral", (-top, top), {},
                                   {"offset": offset}))
                nodes.append(_wfsm_node(f"{n}.gates_s", f"{n}.pre", p, n, acts, srow * u, M + np.abs(offset)))
                for k, gname in enumerate(("i", "f", "g", "o")):
                    nodes.append(_node(f"{n}.{gname}_s", "slice", (f"{n}.gates_s",), (H,), n, "bipolar", (-1, 1),
                                       {"rows": [k * H, (k + 1) * H]}))
                p["unit"] = u
                p["bias_streams"] = nb
                p["bias_offset_max"] = int(np.abs(offset).max()) if offset.size else 0
    if isinstance(lay, LSTM):
        K = p["cell_range"]
        nodes += [
            _node(f"{n}.c_s", "encode", (f"{n}.c_prev",), (K, H), n, "bipolar", (-1, 1), {**common, "scale": float(K), "repeat": K}),
            _node(f"{n}.fc", "xnor", (f"{n}.f_s", f"{n}.c_s"), (K, H), n, "bipolar"),
            _node(f"{n}.ig", "xnor", (f"{n}.i_s", f"{n}.g_s"), (H,), n, "bipolar"),
            _node(f"{n}.c_sum", "apc", (f"{n}.fc", f"{n}.ig"), (H,), n, "integral", (-(K + 1), K + 1)),
            _node(f"{n}.c_cnt", "updown_counter", (f"{n}.c_sum",), (H,), n, "integral", (-(K + 1) * L, (K + 1) * L)),
            _node(f"{n}.c", "decode", (f"{n}.c_cnt",), (H,), n, "binary", (-K, K),
                  {"mode": "integral", "saturate": float(K), "bits": bits}),
        ]
        fa = _cell_fsm_arrays(p, f, H, K)
        nodes += [
            _node(f"{n}.tanh_c", "wfsm", (f"{n}.c_sum",), (H,), n, "bipolar", (-1, 1),
                  {"states": _states(p["cell_fsm_states"]), "auto_states": p["cell_fsm_states"] == "auto",
                   "weight_bits": p["fsm_weight_bits"], "role": "cell",
                   "state_policy": p["fsm_state"], "synthesized": False}, fa),
            _node(f"{n}.h_bits", "xnor", (f"{n}.o_s", f"{n}.tanh_c"), (H,), n, "bipolar"),
        ]
    else:
        nodes += [
            _node(f"{n}.hp_s", "encode", (f"{n}.h_prev",), (H,), n, "bipolar", (-1, 1), {**common, "scale": 1.0, "repeat": 1}),
            _node(f"{n}.h_bits", "mux", (f"{n}.z_s", f"{n}.hp_s", f"{n}.n_s"), (H,), n, "bipolar"),
        ]
    nodes += [
        _node(f"{n}.h_cnt", "counter", (f"{n}.h_bits",), (H,), n, "binary", (0, L)),
        _node(f"{n}.h", "decode", (f"{n}.h_cnt",), (H,), n, "binary", (-1, 1),
              {"mode": "sign" if p["hidden"] == "sign" else "bipolar", "bits": bits}),
    ]
    return nodes


def _general_bn(sx: np.ndarray, sh: np.ndarray) -> bool:
    """True when bn_x/bn_h need the general integral LSTM lowering: per-step statistics, or
    bn_x/bn_h scales not in one ratio across rows (both with finite, non-zero bn_h scales)."""
    if not (np.all(np.isfinite(sx)) and np.all(np.isfinite(sh)) and np.all(sh != 0)):
        return False                              # the shared path raises its clear error
    ratio = sx / sh
    return sx.shape[0] > 1 or sh.shape[0] > 1 or not np.allclose(ratio, ratio[:, :1], rtol=1e-9)


def _general_units(lay, p: dict, f: dict, R: float, common: dict):
    """Units of integral gates with general bn_x/bn_h (see :func:`_lower_lstm_integral_bn`):
    returns (T, bn_h scales (T, rows), unit u, a_h, the x stream bank node) and records
    ``x_streams`` / ``bn_gate_tables`` in the plan."""
    n, I = lay.name, lay.input_size
    sx, sh = f["scale_x"], f["scale_h"]
    T = max(sx.shape[0], sh.shape[0])
    sx, sh = sx[np.minimum(np.arange(T), sx.shape[0] - 1)], sh[np.minimum(np.arange(T), sh.shape[0] - 1)]
    ax = f["alpha_ih"] * sx / sh                                  # (T, rows)
    ah = float(f["alpha_hh"])
    u = max(float(np.abs(ax).max()) * R, ah)
    shared = bool(np.allclose(ax, ax[:, :1], rtol=1e-9))
    rows = sx.shape[1]
    x_node = _node(f"{n}.x_s", "encode", (f"{n}.x",), (I,) if shared else (rows, I), n, "bipolar", (-1, 1),
                   {**common, "x_streams": "shared" if shared else "per_row"},
                   {"gain": (ax[:, :1] if shared else ax) / u})
    p.update(x_streams="shared" if shared else "per_row", bn_gate_tables=T)
    return T, sh, u, ah, x_node


def _lower_lstm_integral_bn(lay: LSTM, p: dict, f: dict, R: float, common: dict) -> list[SCNode]:
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
    n, H, I = lay.name, lay.hidden_size, lay.input_size
    if p["bias_encoding"] != "streams":
        raise ConfigError(f"layers.{n}.bias_encoding: 'offset' needs time-invariant bn_x/bn_h in a constant ratio "
                          "across rows; use bias_encoding='streams'")
    T, sh, u, ah, x_node = _general_units(lay, p, f, R, common)
    shift = f["shift"][np.minimum(np.arange(T), f["shift"].shape[0] - 1)]
    rows = 4 * H
    bias = shift / sh / u                                         # (T, rows)
    nb = int(math.ceil(float(np.max(np.abs(bias))) - 1e-12)) if np.any(bias != 0) else 0
    ng = 4 if p.get("gate_sngs") == "per_gate" else 1            # one x/h SNG bank per gate (see _lower_recurrent)
    xgrp = hgrp = {"groups": 4} if ng > 1 else {}
    if ng > 1 and x_node.shape == (I,):                           # shared x bank -> one per gate, same gain
        x_node = x_node.replace(shape=(4, I), params={**x_node.params, "repeat": 4, "x_streams": "per_gate"},
                                arrays={"gain": np.repeat(x_node.arrays["gain"], 4, axis=1)})
        p["x_streams"] = "per_gate"
    elif ng > 1:
        xgrp = {}                                                 # per-row x streams are independent already
    nodes = [
        x_node,
        _node(f"{n}.h_s", "encode", (f"{n}.h_prev",), (4, H) if ng > 1 else (H,), n, "bipolar", (-1, 1),
              {**common, "scale": u / ah, "repeat": ng}),
        _node(f"{n}.px", "xnor_apc", (f"{n}.x_s",), (rows,), n, "integral", (-I, I), xgrp, {"weights": f["w_ih"]}),
        _node(f"{n}.ph", "xnor_apc", (f"{n}.h_s",), (rows,), n, "integral", (-H, H), hgrp, {"weights": f["w_hh"]}),
    ]
    pre_inputs = [f"{n}.px", f"{n}.ph"]
    if nb:
        const = np.repeat((bias / nb)[:, None, :], nb, axis=1)    # (T, nb, rows)
        nodes.append(_node(f"{n}.b_s", "encode", (), (nb, rows), n, "bipolar", (-1, 1), {**common, "repeat": nb},
                           {"const": const if T > 1 else const[0]}))
        pre_inputs.append(f"{n}.b_s")
    M = np.abs(f["w_ih"]).sum(1) + np.abs(f["w_hh"]).sum(1) + nb
    nodes.append(_node(f"{n}.pre", "apc", pre_inputs, (rows,), n, "integral", (-int(M.max()), int(M.max()))))
    acts = np.repeat([ACT_CODE[a] for a in GATE_ACTS["lstm"]], H).astype(np.int8)
    nodes.append(_wfsm_node(f"{n}.gates_s", f"{n}.pre", p, n, acts, sh * u if T > 1 else sh[0] * u, M))
    for k, gname in enumerate(("i", "f", "g", "o")):
        nodes.append(_node(f"{n}.{gname}_s", "slice", (f"{n}.gates_s",), (H,), n, "bipolar", (-1, 1),
                           {"rows": [k * H, (k + 1) * H]}))
    p.update(unit=u, bias_streams=nb, bias_offset_max=0)
    return nodes


def _cell_fsm_arrays(p: dict, f: dict, H: int, K: int) -> dict:
    """tanh(c) WFSM tables.  Without bn_c one table tanh(z).  With bn_c the target of row j at
    step t is tanh(s_tj z + m_tj) (BNc folded into the target): rows with equal (s, m) columns
    share a table (group); per-step statistics give a bank ``wq`` of shape (T_stats, G, N),
    table t used at step t (steps beyond the last use the last: ``BatchNormParams.at``)."""
    if "scale_c" not in f:
        fa = _fsm_arrays(_states(p["cell_fsm_states"]), p["fsm_weight_bits"], H)
        fa["target_act"] = np.array([ACT_CODE["tanh"]], dtype=np.int8)
        fa["target_gain"] = np.array([1.0])
    else:
        sc, mc = f["scale_c"], f["shift_c"]                   # (T, H)
        keys = np.round(np.concatenate([sc, mc], axis=0).T, 12)  # row j: its (s, m) over all steps
        uniq, group = np.unique(keys, axis=0, return_inverse=True)
        group = group.ravel().astype(np.int64)
        T = sc.shape[0]
        fa = _fsm_arrays(_states(p["cell_fsm_states"]), p["fsm_weight_bits"], H, group)
        fa["target_act"] = np.full(uniq.shape[0], ACT_CODE["tanh"], dtype=np.int8)
        fa["target_gain"] = uniq[:, :T].T.copy()             # (T, G)
        fa["target_shift"] = uniq[:, T:].T.copy()
        if T > 1:
            fa["wq"] = np.tile(fa["wq"][None], (T, 1, 1))
    fa["operands"] = np.full(H, K + 1, dtype=np.int64)
    return fa


def operand_bin(m: np.ndarray) -> np.ndarray:
    """Operand-count bins of the FSM groups: m itself up to 16, else the nearest 16 * 1.1^k."""
    m = np.asarray(m, dtype=np.float64)
    big = np.round(16.0 * 1.1 ** np.round(np.log(np.maximum(m, 16.0) / 16.0) / np.log(1.1)))
    return np.where(m <= 16, m, big)


def _bias_bank(name: str, layer: str, shift_u: np.ndarray, common: dict) -> tuple[list[SCNode], int]:
    """ceil(max|b|) constant-value bias SNGs per row for a bias ``shift_u`` in units of u:
    (rows,), or (T, rows) per step (per-step batch norm: constants (T, nb, rows) switching per step)."""
    b = np.atleast_2d(shift_u)
    if not np.any(b != 0):
        return [], 0
    nb = int(math.ceil(float(np.max(np.abs(b))) - 1e-12))
    const = np.repeat((b / nb)[:, None, :], nb, axis=1)
    return [_node(name, "encode", (), (nb, b.shape[1]), layer, "bipolar", (-1, 1), {**common, "repeat": nb},
                  {"const": const if b.shape[0] > 1 else const[0]})], nb


def _wfsm_node(name: str, pre: str, p: dict, layer: str, acts: np.ndarray, gains: np.ndarray,
               operands: np.ndarray, encoding: str = "bipolar") -> SCNode:
    """A WFSM bank; rows share one synthesized table per distinct (activation, gain, operand-count
    bin): rows of ternary layers have different numbers of active operands, and the increment
    distribution (the FSM's input model) depends on it (bins: exact up to 16, then 10% wide)."""
    g2 = np.atleast_2d(gains)                 # (T, rows): per-step gains give a table bank
    T = g2.shape[0]
    keys = np.column_stack([acts.astype(np.float64), np.round(g2.T, 12), operand_bin(operands)])
    uniq, group = np.unique(keys, axis=0, return_inverse=True)
    fa = _fsm_arrays(_states(p["gate_fsm_states"]), p["fsm_weight_bits"], acts.size, group.ravel().astype(np.int64))
    fa["target_act"] = uniq[:, 0].astype(np.int8)
    fa["target_gain"] = uniq[:, 1:1 + T].T.copy() if T > 1 else uniq[:, 1]
    if T > 1:
        fa["wq"] = np.tile(fa["wq"][None], (T, 1, 1))
    fa["operands"] = operands.astype(np.int64)
    return _node(name, "wfsm", (pre,), (acts.size,), layer, encoding, (0 if encoding == "unipolar" else -1, 1),
                 {"states": _states(p["gate_fsm_states"]), "auto_states": p["gate_fsm_states"] == "auto",
                  "weight_bits": p["fsm_weight_bits"], "role": "gate",
                  "state_policy": p["fsm_state"], "synthesized": False}, fa)


def _lower_gru_integral(lay: GRU, p: dict, f: dict, u: float, x_node: SCNode, ah: float, srow: np.ndarray,
                        common: dict) -> list[SCNode]:
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
    per-step gains: see :func:`_general_units`).
    """
    n, H, I = lay.name, lay.hidden_size, lay.input_size
    if p["bias_encoding"] != "streams":
        raise ConfigError(f"layers.{n}.bias_encoding: the integral GRU supports 'streams' only")
    T = srow.shape[0]
    idx = np.minimum(np.arange(T), f["shift_x"].shape[0] - 1)
    sx = f["shift_x"][idx] / srow / u                      # (T, 3H)
    sh = f["shift_h"][np.minimum(np.arange(T), f["shift_h"].shape[0] - 1)] / srow / u
    gains = srow * u if T > 1 else srow[0] * u
    rz, nn = slice(0, 2 * H), slice(2 * H, 3 * H)
    wi, wh = f["w_ih"], f["w_hh"]
    lbr = bool(lay.linear_before_reset)
    nodes = [
        x_node,
        _node(f"{n}.h_s", "encode", (f"{n}.h_prev",), (H,), n, "bipolar", (-1, 1), {**common, "scale": u / ah, "repeat": 1}),
        _node(f"{n}.px", "xnor_apc", (f"{n}.x_s",), (3 * H,), n, "integral", (-I, I), {}, {"weights": wi}),
        # linear_before_reset=0: only the r, z rows read h directly (n's rows read r*h below)
        _node(f"{n}.ph", "xnor_apc", (f"{n}.h_s",), (3 * H if lbr else 2 * H,), n, "integral", (-H, H), {},
              {"weights": wh if lbr else wh[rz]}),
    ]
    for part, rows in (("px", rz), ("ph", rz), ("px", nn), ("ph", nn)):
        if part == "ph" and rows is nn and not lbr:
            continue
        tag = "rz" if rows is rz else "n"
        nodes.append(_node(f"{n}.{part}_{tag}", "islice", (f"{n}.{part}",), (rows.stop - rows.start,), n,
                           "integral", (-I - H, I + H), {"rows": [rows.start, rows.stop]}))
    b_rz, nb_rz = _bias_bank(f"{n}.b_rz", n, (sx + sh)[:, rz], common)
    b_xn, nb_xn = _bias_bank(f"{n}.b_xn", n, sx[:, nn], common)
    b_hn, nb_hn = _bias_bank(f"{n}.b_hn", n, sh[:, nn], common)
    nodes += b_rz + b_xn + b_hn
    m_rz = np.abs(wi[rz]).sum(1) + np.abs(wh[rz]).sum(1) + nb_rz
    m_hn = np.abs(wh[nn]).sum(1) + nb_hn
    m_n = np.abs(wi[nn]).sum(1) + m_hn + nb_xn
    nodes.append(_node(f"{n}.pre_rz", "apc", (f"{n}.px_rz", f"{n}.ph_rz", *[b.name for b in b_rz]), (2 * H,), n,
                       "integral", (-int(m_rz.max()), int(m_rz.max()))))
    nodes.append(_node(f"{n}.pre_r", "islice", (f"{n}.pre_rz",), (H,), n, "integral", (-int(m_rz.max()), int(m_rz.max())),
                       {"rows": [0, H]}))
    nodes.append(_node(f"{n}.pre_z", "islice", (f"{n}.pre_rz",), (H,), n, "integral", (-int(m_rz.max()), int(m_rz.max())),
                       {"rows": [H, 2 * H]}))
    sig = np.zeros(H)
    nodes.append(_wfsm_node(f"{n}.r_s", f"{n}.pre_r", p, n, sig, gains[..., :H], m_rz[:H]))
    nodes.append(_wfsm_node(f"{n}.z_s", f"{n}.pre_z", p, n, sig + ACT_CODE["sigmoid_unipolar"], gains[..., H:2 * H],
                            m_rz[H:], "unipolar"))
    if lbr:
        nodes.append(_node(f"{n}.hn", "apc", (f"{n}.ph_n", *[b.name for b in b_hn]), (H,), n, "integral",
                           (-int(m_hn.max()), int(m_hn.max()))))
        nodes.append(_node(f"{n}.r_hn", "xnor_int", (f"{n}.r_s", f"{n}.hn"), (H,), n, "integral",
                           (-int(m_hn.max()), int(m_hn.max())), {"operands": int(m_hn.max())}))
        n_parts = (f"{n}.px_n", f"{n}.r_hn", *[b.name for b in b_xn])
    else:
        nodes.append(_node(f"{n}.rh", "xnor", (f"{n}.r_s", f"{n}.h_s"), (H,), n, "bipolar"))
        nodes.append(_node(f"{n}.ph_n", "xnor_apc", (f"{n}.rh",), (H,), n, "integral", (-H, H), {},
                           {"weights": wh[nn]}))
        n_parts = (f"{n}.px_n", f"{n}.ph_n", *[b.name for b in b_xn], *[b.name for b in b_hn])
    nodes.append(_node(f"{n}.pre_n", "apc", n_parts, (H,), n, "integral", (-int(m_n.max()), int(m_n.max()))))
    nodes.append(_wfsm_node(f"{n}.n_s", f"{n}.pre_n", p, n, sig + ACT_CODE["tanh"], gains[..., 2 * H:], m_n))
    p["unit"] = u
    p["bias_streams"] = nb_rz + nb_xn + nb_hn
    return nodes


def _lower_dense(lay: Linear, p: dict, prev: str) -> list[SCNode]:
    n = lay.name
    w, alpha = weight_levels(lay.weight, "weight", n)
    b = _bias(lay.bias, lay.out_size)
    inp = p["input"]
    if p["mode"] == "exact":
        return [_node(f"{n}.k", "xnor_popcount", (prev,), (lay.out_size,), n, "integral", (-lay.in_size, lay.in_size),
                      {"operand_scale": inp["scale"]}, {"weights": w}),
                _node(f"{n}.y", "dense_out", (f"{n}.k",), (lay.out_size,), n, "binary", (-np.inf, np.inf),
                      {"mode": "exact"}, {"gain": np.full(lay.out_size, alpha * inp["scale"]), "bias": b})]
    R = float(inp["range"])
    L = p["length"]
    return [_node(f"{n}.x_s", "encode", (prev,), (lay.in_size,), n, "bipolar", (-1, 1),
                  {"scale": R, "repeat": 1}),
            _node(f"{n}.p", "xnor_apc", (f"{n}.x_s",), (lay.out_size,), n, "integral", (-lay.in_size, lay.in_size),
                  {}, {"weights": w}),
            _node(f"{n}.cnt", "updown_counter", (f"{n}.p",), (lay.out_size,), n, "integral",
                  (-lay.in_size * L, lay.in_size * L)),
            _node(f"{n}.y", "dense_out", (f"{n}.cnt",), (lay.out_size,), n, "binary", (-np.inf, np.inf),
                  {"mode": "counted"}, {"gain": np.full(lay.out_size, alpha * R), "bias": b})]


@register_pass("lower_layers", requires=("fold_batchnorm",),
               description="lower every layer to layer-level SC nodes (XNOR/APC banks, SNGs, WFSMs, counters, registers)")
def lower_layers(state: CompileState) -> None:
    nodes: list[SCNode] = []
    plans: list[LayerPlan] = []
    prev = "model.input"
    model = state.model
    nodes.append(_node(prev, "input", (), (model.input.size if model.input.kind == "features" else 1,), "model",
                       "binary", (-np.inf, np.inf), {"kind": model.input.kind}))
    for lay in model.layers:
        p = state.plan[lay.name]
        if isinstance(lay, (LSTM, GRU)):
            new = _lower_recurrent(lay, p, state.config)
            new[0] = new[0].replace(params={**new[0].params, "source": prev})
            opts = {k: v for k, v in p.items() if k in ("gate_input", "hidden", "cell_range", "sng_bits",
                                                          "gate_fsm_states", "cell_fsm_states", "fsm_weight_bits",
                                                          "fsm_state", "unit", "bias_streams", "bias_offset_max",
                                                          "bias_encoding", "fsm_input_model", "bn_steps", "x_streams", "gate_sngs",
                                                          "bn_gate_tables")}
            if isinstance(lay, LSTM) and lay.bn_c is not None:
                opts["bn_c_tables"] = int(np.atleast_2d(p["folded"]["scale_c"]).shape[0])
            plans.append(LayerPlan(lay.name, lay.kind, p["length"], opts))
            prev = f"{lay.name}.h"
        elif isinstance(lay, Linear):
            new = _lower_dense(lay, p, prev)
            plans.append(LayerPlan(lay.name, "dense", p["length"] if p["mode"] == "stream" else 0,
                                   {"mode": p["mode"], "sng_bits": p["sng_bits"]}))
            prev = f"{lay.name}.y"
        elif isinstance(lay, Embedding):
            new = [_node(f"{lay.name}.y", "lookup", (prev,), (lay.embedding_dim,), lay.name, "binary", (-np.inf, np.inf),
                         {}, {"table": lay.weight.data})]
            plans.append(LayerPlan(lay.name, "embedding", 0, {}))
            prev = f"{lay.name}.y"
        elif isinstance(lay, BatchNorm):
            s, m = _affine_tables(lay.params, lay.params.features, None)
            new = [_node(f"{lay.name}.y", "affine", (prev,), (lay.params.features,), lay.name, "binary",
                         (-np.inf, np.inf), {}, {"scale": s, "shift": m})]
            plans.append(LayerPlan(lay.name, "affine", 0, {}))
            prev = f"{lay.name}.y"
        elif isinstance(lay, Activation):
            width = next(nd.shape for nd in reversed(nodes) if nd.name == prev)
            new = [_node(f"{lay.name}.y", "activation", (prev,), width, lay.name, "binary", (-np.inf, np.inf),
                         {"function": lay.function})]
            plans.append(LayerPlan(lay.name, "activation", 0, {"function": lay.function}))
            prev = f"{lay.name}.y"
        else:  # pragma: no cover - check_model rejects these
            raise UnsupportedOpError(lay.kind, lay.name, "no SC lowering")
        nodes.extend(new)
    # every recurrent layer's input node reads the previous layer's output (kept as a param, not
    # an edge: a step program's input is a per-step value handed over by the runtime)
    state.netlist = SCNetlist(tuple(nodes), tuple(plans), {},
                              {"model": model.name, "output": prev, "input_kind": model.input.kind}).check()


@register_pass("gate_zero_inputs", optional=True, requires=("lower_layers",),
               description="exact inputs that are zero switch their XNORs off (as zero ternary weights do)")
def gate_zero_inputs(state: CompileState) -> None:
    """An ``xnor_apc`` bank whose operand streams encode an exact input (values {-s, 0, s}: binary
    or one-hot/ternary model inputs, ternary embeddings) reads the input's values as well: a zero
    operand contributes exactly 0 to the row's APC instead of the random +-1 of a p = 1/2 stream.
    The mean is unchanged (E[2b - 1] = 0 either way), but on a one-hot input of V symbols the
    V - 1 zero streams were pure noise in every gate's APC (spread sqrt(V - 1) per cycle), which a
    gate FSM cannot average away (E[f(d)] != f(E[d])).  Hardware: one AND per weight-active
    operand with the input's "nonzero" bit, and the APC subtracts the number of enabled operands
    instead of a constant (docs/compiler.md §3).  Disabled: zeros are streams of value 0."""
    nodes = state.netlist.nodes
    by_name = {nd.name: nd for nd in nodes}
    gated = []
    out = []
    for nd in nodes:
        if nd.op == "xnor_apc" and len(nd.inputs) == 1:
            enc = by_name[nd.inputs[0]]
            src = by_name.get(enc.inputs[0]) if enc.op == "encode" and enc.inputs else None
            if src is not None and src.op == "input" and src.params.get("exact"):
                nd = nd.replace(inputs=(nd.inputs[0], src.name), params={**nd.params, "gated": True})
                gated.append(nd.name)
        out.append(nd)
    state.netlist = state.netlist.with_nodes(out).check()
    state.info["gated_banks"] = gated


def _target_fn(act: int, gain: float, shift: float = 0.0):
    if act in (ACT_CODE["sigmoid"], ACT_CODE["sigmoid_unipolar"]):
        return lambda z: 1.0 / (1.0 + np.exp(-(gain * np.asarray(z, dtype=float) + shift)))
    return lambda z: np.tanh(gain * np.asarray(z, dtype=float) + shift)


def _layer_io(state: CompileState, layer: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(layer input x, previous hidden h_{t-1}) per (sample, step) on the calibration inputs, from
    the design reference (sign(h) where the design has it), or None without calibration data."""
    x = state.info.get("_calibration_inputs")
    if x is None:
        return None
    cache = state.info.setdefault("_golden", {})
    if "trace" not in cache:
        from ..runtime.golden import golden_forward  # noqa: PLC0415

        cache["trace"] = golden_forward(state.model, state.plan, x)[1]
    trace = cache["trace"]
    names = [lay.name for lay in state.model.layers]
    k = names.index(layer)
    if k == 0:
        xin = np.asarray(x, dtype=np.float64)
    else:
        prev = trace[names[k - 1]]
        xin = prev["h"] if "h" in prev else prev["out"]
    h = trace[layer]["h"]
    h_prev = np.concatenate([np.zeros_like(h[:, :1]), h[:, :-1]], axis=1)
    return xin, h_prev


def _input_model(node: SCNode, state: CompileState, rows: np.ndarray):
    """The FSM's input model: Binomial(M) (M operands of equal value), or, with calibration data
    (``fsm_input_model: auto``), the Poisson-binomial model of the operand values the rows
    actually see: (sample, step, row) triplets of (f c/K, ..., i g) for tanh(c), and of
    (w x a_x/u, w h a_h/u, bias streams) for the LSTM's integral gates (bias streams, no wired
    offset; otherwise the binomial model), where zero weights and gated zero inputs add exactly 0
    (:func:`sccompiler.fsm.gated_operand_input`)."""
    from ..fsm.inputs import BinomialInput, PoissonBinomialInput, gated_operand_input  # noqa: PLC0415

    M = int(np.max(node.arrays["operands"][rows]))
    binomial = (BinomialInput(int(round(float(np.median(node.arrays["operands"][rows]))))), False)
    if state.plan.get(node.layer, {}).get("fsm_input_model", "auto") != "auto":
        return binomial
    rng = np.random.default_rng(0)
    trace = state.info.get("_trace")
    if node.params["role"] == "cell" and trace is not None and node.layer in trace:
        rec = trace[node.layer]
        K = M - 1
        c_prev = np.concatenate([np.zeros_like(rec["c"][:, :1]), rec["c"][:, :-1]], axis=1)
        c_prev = np.clip(c_prev, -K, K)
        ops = np.concatenate([np.repeat((rec["f"] * c_prev / K)[..., None], K, axis=-1),
                              (rec["i"] * rec["g"])[..., None]], axis=-1).reshape(-1, M)
        pick = rng.choice(ops.shape[0], size=min(256, ops.shape[0]), replace=False)
        return PoissonBinomialInput.from_array(np.clip(ops[pick], -1, 1)), True
    if node.params["role"] != "gate" or node.name != f"{node.layer}.gates_s":
        return binomial
    io = _layer_io(state, node.layer)
    nl = state.netlist
    px, ph = nl.node(f"{node.layer}.px"), nl.node(f"{node.layer}.ph")
    wi, wh = px.arrays["weights"], ph.arrays["weights"]
    pre = nl.node(f"{node.layer}.pre")
    if io is None or np.any(pre.arrays.get("offset", 0) != 0):
        return binomial
    if "gain" in nl.node(f"{node.layer}.x_s").arrays:
        return binomial           # per-step / per-row bn_x/bn_h: operand values change per step and row
    xin, h_prev = io
    xs = xin / float(nl.node(f"{node.layer}.x_s").params["scale"])
    hs = h_prev / float(nl.node(f"{node.layer}.h_s").params["scale"])
    bias = nl.node(f"{node.layer}.b_s").arrays["const"] if any(n.name == f"{node.layer}.b_s" for n in nl) else None
    S, T = xs.shape[:2]
    picks = rng.integers(0, S * T, size=256)
    prow = rng.choice(rows, size=256)
    xs, hs = xs.reshape(S * T, -1)[picks], hs.reshape(S * T, -1)[picks]
    # a zero weight switches its XNOR off, and so does a zero exact input when the bank is gated
    x_on = (wi[prow] != 0) & ((xs != 0) if px.params.get("gated") else True)
    values = [wi[prow] * xs, wh[prow] * hs]
    active = [x_on, wh[prow] != 0]
    if bias is not None:
        values.append(bias[:, prow].T)
        active.append(np.ones((prow.size, bias.shape[0]), dtype=bool))
    return gated_operand_input(np.concatenate(values, axis=1), np.concatenate(active, axis=1)), True


@register_pass("synthesize_fsms", optional=True, requires=("lower_layers",),
               description="synthesize WFSM weights for each gate/tanh(c) target and its input model (disabled: Stanh)")
def synthesize_fsms(state: CompileState) -> None:
    nodes = []
    report = []
    for node in state.netlist.nodes:
        if node.op != "wfsm":
            nodes.append(node)
            continue
        b = node.params["weight_bits"]
        wq = np.array(node.arrays["wq"])
        # per-step table banks (bn_c with per-step statistics): wq (T, G, N), gains/shifts (T, G)
        bank = wq.ndim == 3
        gains = np.atleast_2d(node.arrays["target_gain"])
        shifts = np.atleast_2d(node.arrays.get("target_shift", np.zeros_like(node.arrays["target_gain"])))
        models = [_input_model(node, state, np.flatnonzero(node.arrays["group"] == g))
                  for g in range(len(node.arrays["target_act"]))]
        plan = state.plan.get(node.layer, {})
        if node.params.get("auto_states"):
            spread = max(increment_spread(m) for m, _ in models)
            candidates = auto_state_candidates(spread, int(plan["length"]))
        else:
            candidates = [int(node.params["states"])]
        for N in candidates:
            tables, entries = _synthesize_bank(node, models, gains, shifts, N, b)
            worst = max(e["analytic_rmse"] for e in entries)
            if worst <= float(plan.get("fsm_tolerance", 0.03)):
                break        # explicit N: one candidate; auto: the smallest N within tolerance
        tol = float(plan.get("fsm_tolerance", 0.03))
        if node.params.get("auto_states"):
            for e in entries:
                e["auto"] = {"candidates": candidates, "increment_spread": spread}
            if worst > tol:
                state.info.setdefault("warnings", []).append(
                    f"{node.name}: analytic RMSE {worst:.3g} > fsm_tolerance {tol:g} at {N} states, the most "
                    f"that average within L = {plan['length']} cycles (increment spread {spread:.3g}/cycle); "
                    "a longer stream allows more states")
        elif worst > tol:
            state.info.setdefault("warnings", []).append(
                f"{node.name}: analytic RMSE {worst:.3g} of its {N}-state WFSMs exceeds fsm_tolerance {tol:g} "
                f"(an accuracy floor no stream length removes); "
                f"{'gate' if node.params['role'] == 'gate' else 'cell'}_fsm_states: auto sizes them")
        report += entries
        wq = tables if bank else tables[0]
        nodes.append(node.replace(arrays={**node.arrays, "wq": wq},
                                  params={**node.params, "states": N, "synthesized": True,
                                          "input_model": [m.name for m, _ in models]}))
    state.netlist = state.netlist.with_nodes(nodes)
    state.info["fsms"] = report


def _synthesize_bank(node: SCNode, models: list, gains: np.ndarray, shifts: np.ndarray, N: int,
                     b: int) -> tuple[np.ndarray, list[dict]]:
    """Every (step, group) table of a WFSM bank at N states: ((T, G, N) weights, report entries)."""
    from ..fsm import synthesize_fsm  # noqa: PLC0415

    bank = np.asarray(node.arrays["wq"]).ndim == 3
    tables = np.zeros((gains.shape[0], len(models), N), dtype=np.int64)
    entries = []
    for g, act in enumerate(node.arrays["target_act"]):
        model, calibrated = models[g]
        M = model.max_step
        for t in range(tables.shape[0]):
            gain, shift = float(gains[t, g]), float(shifts[t, g])
            kwargs = {}
            if not calibrated:
                zmax = min(float(M), max(1.0, (8.0 + abs(shift)) / max(abs(gain), 1e-12)))
                kwargs["domain"] = (-zmax, zmax)
            out_enc = "unipolar" if int(act) == ACT_CODE["sigmoid_unipolar"] else "bipolar"
            d = synthesize_fsm(_target_fn(int(act), gain, shift), states=N, input=model, weight_bits=b,
                               grid=401, output=out_enc, max_states=MAX_FSM_STATES, **kwargs)
            tables[t, g] = np.asarray(d.quantized_weights, dtype=np.int64)
            entry = {"node": node.name, "group": g,
                     "target": {0: "sigmoid", 1: "tanh", 2: "sigmoid (unipolar)"}[int(act)],
                     "gain": gain, "input_model": model.name, "states": N,
                     "analytic_rmse": d.analytic_rmse, "analytic_max_error": d.analytic_max_error,
                     "baseline_max_error": d.baseline.analytic_max_error}
            if "target_shift" in node.arrays:
                entry["shift"] = shift
            if bank:
                entry["step"] = t
            entries.append(entry)
    return tables, entries


def increment_spread(model) -> float:
    """The largest per-cycle standard deviation of the increments d_t an input model gives
    (grid models at x = 0, where a binomial's spread peaks; sample models over their samples)."""
    from ..fsm.inputs import GRID_MODELS  # noqa: PLC0415

    tab = model.increments(np.zeros(1)) if isinstance(model, GRID_MODELS) else model.increments()
    d = np.asarray(tab.deltas, dtype=np.float64)
    mean = tab.pmf @ d
    var = tab.pmf @ (d * d) - mean * mean
    return float(np.sqrt(np.max(np.maximum(var, 0.0))))


def auto_state_candidates(spread: float, length: int) -> list[int]:
    """Powers of two from 16 up to the mixing cap 2^floor(log2(max(spread, 1) sqrt(L))) (at least
    16, at most MAX_FSM_STATES): a saturating counter moved by increments of per-cycle spread
    sigma diffuses across N states in ~(N/sigma)^2 cycles, so larger N no longer averages within
    one time step's L cycles (measured on the Shakespeare model, L = 1024: 256 states 3.12 bpc,
    512 states 3.28; at L = 4096 512 states give 2.95)."""
    cap = max(spread, 1.0) * math.sqrt(max(length, 1))
    top = int(min(MAX_FSM_STATES, max(16, 2 ** int(math.floor(math.log2(cap))))))
    return [1 << k for k in range(4, int(math.log2(top)) + 1)]


@register_pass("insert_sngs", requires=("lower_layers",),
               description="turn every value->stream crossing (encode) into an SNG bank: comparator width, encoding")
def insert_sngs(state: CompileState) -> None:
    """Each ``encode`` node (a value that must become a bit stream: inputs, gate values, stored
    c and h, bias constants) becomes an ``sng`` bank with the layer's comparator width n
    (``sng_bits``, default max(4, ceil(log2 L)): the SNG's quantization 2^-n stays below the
    1/sqrt(L) stream noise).  Sources and seeds are the next pass's job."""
    nodes = []
    count = 0
    for node in state.netlist.nodes:
        if node.op == "encode":
            bits = int(state.plan[node.layer]["sng_bits"])
            node = node.replace(op="sng", params={**node.params, "bits": bits})
            count += node.size
        nodes.append(node)
    state.netlist = state.netlist.with_nodes(nodes).check()
    state.info["sngs"] = count


def bank_seeds(allocator, start: int, count: int) -> np.ndarray:
    """Seeds of sources ``start .. start+count-1`` of ``allocator``, exactly as
    ``allocator.allocate`` places them (``k * spacing`` steps after its base), vectorized.

    Adapter: sim's SourceAllocator allocates one named source per call (~6 ms each, 40 s for a
    1x1000 LSTM's 7000 SNGs); this computes the same seeds in O(log count) matrix powers.
    """
    from ..sim.seeds import derive_lfsr_seeds, KEY_INPUT  # noqa: PLC0415
    from ..sim.sources import apply_matrix, matrix_power, step_matrix  # noqa: PLC0415

    if start + count > allocator.max_sources:
        raise ConfigError(f"the design needs {start + count} random sources but a {allocator.width}-bit LFSR "
                          f"allocator holds {allocator.max_sources}; use lfsr_width=32")
    width = allocator.width
    period = (1 << width) - 1
    base = int(derive_lfsr_seeds(allocator.master_seed, KEY_INPUT, 1, width)[0])
    step = step_matrix(width)
    first = apply_matrix(matrix_power(step, (start * allocator.spacing) % period), np.array([base], dtype=np.uint64))
    seeds = first
    while seeds.size < count:
        jump = matrix_power(step, (seeds.size * allocator.spacing) % period)
        seeds = np.concatenate([seeds, apply_matrix(jump, seeds)])
    return seeds[:count].astype(np.uint64)


@register_pass("allocate_sources", requires=("insert_sngs",),
               description="give every SNG and WFSM its own LFSR source (phase-spaced seeds), check capacity")
def allocate_sources(state: CompileState) -> None:
    from ..sim.seeds import SourceAllocator  # noqa: PLC0415

    cfg = state.config
    need = 0
    for node in state.netlist.nodes:
        if node.op == "sng" or node.op == "wfsm":
            need += node.size
    max_len = max([p.length for p in state.netlist.layers] + [1])
    alloc = SourceAllocator(kind=cfg.source, width=cfg.lfsr_width, length=max_len, master_seed=cfg.seed,
                            max_sources=max(need, 1))
    nodes = []
    k = 0
    all_seeds = bank_seeds(alloc, 0, need) if need else np.zeros(0, dtype=np.uint64)
    for node in state.netlist.nodes:
        if node.op in ("sng", "wfsm"):
            seeds = all_seeds[k:k + node.size].reshape(node.shape)
            key = "seeds" if node.op == "sng" else "wseeds"
            nodes.append(node.replace(arrays={**node.arrays, key: seeds},
                                      params={**node.params, "source_index": k}))
            k += node.size
        else:
            nodes.append(node)
    state.netlist = state.netlist.with_nodes(nodes).replace(sources={
        "kind": cfg.source, "width": cfg.lfsr_width, "stride": cfg.lfsr_width, "master_seed": cfg.seed,
        "count": need, "spacing": alloc.spacing, "windows_disjoint": bool(alloc.windows_disjoint),
        "window_cycles": max_len})


@register_pass("schedule_length", optional=True, requires=("allocate_sources",),
               description="pick the stream length L meeting target_error at least cost (error model checked by simulation)")
def schedule_length(state: CompileState) -> None:
    if state.config.target_error is None:
        return
    from ..schedule import schedule  # noqa: PLC0415

    schedule(state)


@register_pass("accuracy_report", optional=True, requires=("allocate_sources",),
               description="simulate the design on calibration inputs at L/4..2L: accuracy-vs-L curve")
def accuracy_report(state: CompileState) -> None:
    from ..schedule import accuracy_curve  # noqa: PLC0415

    curve = accuracy_curve(state)
    if curve is not None:
        state.info["accuracy"] = curve


@register_pass("correlation_report", optional=True, requires=("allocate_sources",),
               description="measure SCC between the operands of every XNOR/MUX bank on a short simulation")
def correlation_report(state: CompileState) -> None:
    from ..runtime.engine import correlation_report as measure  # noqa: PLC0415

    state.info["correlation"] = measure(state)


@register_pass("cost", optional=True, requires=("allocate_sources",),
               description="count the netlist's primitives (cost Inventory) and compare with the baselines")
def cost(state: CompileState) -> None:
    from ..cost.netlist_cost import cost_report  # noqa: PLC0415

    state.info["cost"] = cost_report(state.netlist, state.model, state.config)


_LOWER = ("check_model", "calibrate", "plan_datapath", "fold_batchnorm", "lower_layers", "gate_zero_inputs",
          "synthesize_fsms",
          "insert_sngs", "allocate_sources")
register_flow("lower", _LOWER)
register_flow("default", _LOWER + ("schedule_length", "accuracy_report", "correlation_report", "cost"))
register_flow("fast", _LOWER + ("schedule_length", "cost"))
