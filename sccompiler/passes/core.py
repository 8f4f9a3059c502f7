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
            if lay.bn_c is not None:
                raise UnsupportedOpError("bn_c", lay.name, "batch norm on c_t before tanh is not lowered yet "
                                         "(the tanh(c) WFSM target would change per row/time step)")
        elif isinstance(lay, GRU):
            weight_levels(lay.w_ih, "w_ih", lay.name)
            weight_levels(lay.w_hh, "w_hh", lay.name)
            if not lay.linear_before_reset:
                raise UnsupportedOpError("GRU(linear_before_reset=0)", lay.name,
                                         "r*(h) before W_hn is a real-valued product; only linear_before_reset=1 is lowered")
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
            if mode == "auto":
                mode = "table" if exact and lc.hidden == "sign" else "integral_wfsm"
            if mode == "table" and not (exact and lc.hidden == "sign"):
                why = "its input x is multi-level" if not exact else "hidden='stream' makes h multi-level"
                raise ConfigError(f"layers.{lay.name}.gate_input: 'table' needs exact (binary/ternary) operands, but "
                                  f"{why}; use gate_input='integral_wfsm' or hidden='sign' with binary inputs")
            p.update(length=length, sng_bits=lc.bits_for(length), gate_input=mode, hidden=lc.hidden,
                     cell_range=lc.cell_range, gate_fsm_states=lc.gate_fsm_states,
                     cell_fsm_states=lc.cell_fsm_states, fsm_weight_bits=lc.fsm_weight_bits, fsm_state=lc.fsm_state,
                     bias_encoding=lc.bias_encoding, fsm_input_model=lc.fsm_input_model)
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
    for lay in state.model.layers:
        if not isinstance(lay, (LSTM, GRU)):
            continue
        p = state.plan[lay.name]
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
        p["folded"] = folded
        p["bn_per_step"] = bool(steps > 1)


def _node(name, op, inputs, shape, layer, encoding="binary", rng=(-1.0, 1.0), params=None, arrays=None) -> SCNode:
    return SCNode(name, op, tuple(inputs), tuple(int(s) for s in shape), layer, encoding, (float(rng[0]), float(rng[1])),
                  dict(params or {}), dict(arrays or {}))


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
        if sx.shape[0] > 1 or sh.shape[0] > 1:
            raise UnsupportedOpError("per-step batch norm", n, "gate_input='integral_wfsm' needs time-invariant batch "
                                     "norm (the FSM targets cannot change per step); use hidden='sign' with table gates")
        ratio = sx[0] / sh[0]
        if not np.allclose(ratio, ratio[0], rtol=1e-9):
            raise UnsupportedOpError("bn_x/bn_h", n, "gate_input='integral_wfsm' needs bn_x and bn_h scales in a "
                                     "constant ratio across rows (shared x streams); use gate_input='table'")
        ax = float(f["alpha_ih"] * ratio[0])          # x part unit relative to the h part's BN scale
        ah = float(f["alpha_hh"])
        if not (np.isfinite(ax) and ax != 0 and np.all(sh[0] != 0)):
            raise UnsupportedOpError("batch norm", n, "a zero or non-finite batch-norm scale leaves no common unit "
                                     "for the integral gate operands; use gate_input='table'")
        u = max(abs(ax) * R, ah)                       # |x a_x/u| <= 1 and |h a_h/u| <= 1
        srow = sh[0]                                   # per-row BN scale of the whole pre-activation
        if isinstance(lay, GRU):
            nodes += _lower_gru_integral(lay, p, f, u, ax, ah, srow, common)
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
            nodes += [
                _node(f"{n}.x_s", "encode", (f"{n}.x",), (I,), n, "bipolar", (-1, 1), {**common, "scale": u / ax, "repeat": 1}),
                _node(f"{n}.h_s", "encode", (f"{n}.h_prev",), (H,), n, "bipolar", (-1, 1), {**common, "scale": u / ah, "repeat": 1}),
                _node(f"{n}.px", "xnor_apc", (f"{n}.x_s",), (G * H,), n, "integral", (-I, I), {}, {"weights": f["w_ih"]}),
                _node(f"{n}.ph", "xnor_apc", (f"{n}.h_s",), (G * H,), n, "integral", (-H, H), {}, {"weights": f["w_hh"]}),
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
        fa = _fsm_arrays(p["cell_fsm_states"], p["fsm_weight_bits"], H)
        fa["target_act"] = np.array([ACT_CODE["tanh"]], dtype=np.int8)
        fa["target_gain"] = np.array([1.0])
        fa["operands"] = np.full(H, K + 1, dtype=np.int64)
        nodes += [
            _node(f"{n}.tanh_c", "wfsm", (f"{n}.c_sum",), (H,), n, "bipolar", (-1, 1),
                  {"states": p["cell_fsm_states"], "weight_bits": p["fsm_weight_bits"], "role": "cell",
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


def operand_bin(m: np.ndarray) -> np.ndarray:
    """Operand-count bins of the FSM groups: m itself up to 16, else the nearest 16 * 1.1^k."""
    m = np.asarray(m, dtype=np.float64)
    big = np.round(16.0 * 1.1 ** np.round(np.log(np.maximum(m, 16.0) / 16.0) / np.log(1.1)))
    return np.where(m <= 16, m, big)


def _bias_bank(name: str, layer: str, shift_u: np.ndarray, common: dict) -> tuple[list[SCNode], int]:
    """ceil(max|b|) constant-value bias SNGs per row for a bias ``shift_u`` in units of u."""
    if not np.any(shift_u != 0):
        return [], 0
    nb = int(math.ceil(float(np.max(np.abs(shift_u))) - 1e-12))
    return [_node(name, "encode", (), (nb, shift_u.size), layer, "bipolar", (-1, 1), {**common, "repeat": nb},
                  {"const": np.tile(shift_u / nb, (nb, 1))})], nb


def _wfsm_node(name: str, pre: str, p: dict, layer: str, acts: np.ndarray, gains: np.ndarray,
               operands: np.ndarray, encoding: str = "bipolar") -> SCNode:
    """A WFSM bank; rows share one synthesized table per distinct (activation, gain, operand-count
    bin): rows of ternary layers have different numbers of active operands, and the increment
    distribution (the FSM's input model) depends on it (bins: exact up to 16, then 10% wide)."""
    keys = np.stack([acts.astype(np.float64), np.round(gains, 12), operand_bin(operands)], axis=1)
    uniq, group = np.unique(keys, axis=0, return_inverse=True)
    fa = _fsm_arrays(p["gate_fsm_states"], p["fsm_weight_bits"], acts.size, group.ravel().astype(np.int64))
    fa["target_act"] = uniq[:, 0].astype(np.int8)
    fa["target_gain"] = uniq[:, 1]
    fa["operands"] = operands.astype(np.int64)
    return _node(name, "wfsm", (pre,), (acts.size,), layer, encoding, (0 if encoding == "unipolar" else -1, 1),
                 {"states": p["gate_fsm_states"], "weight_bits": p["fsm_weight_bits"], "role": "gate",
                  "state_policy": p["fsm_state"], "synthesized": False}, fa)


def _lower_gru_integral(lay: GRU, p: dict, f: dict, u: float, ax: float, ah: float, srow: np.ndarray,
                        common: dict) -> list[SCNode]:
    """Integral-WFSM GRU (linear_before_reset=1), every operand a bipolar stream in unit u:

    r, z: APC over x, h and bias operands -> WFSM (z's FSM is unipolar: it selects the MUX);
    n: the h part ``W_hn h + b_hn`` as an integral stream, multiplied by r's stream (each of its
    operand bits XNOR r: the integral value flips sign with r's bit), plus the x part -> tanh WFSM;
    h_t = MUX(z; h_{t-1}, n), counted.
    """
    n, H, I = lay.name, lay.hidden_size, lay.input_size
    if p["bias_encoding"] != "streams":
        raise ConfigError(f"layers.{n}.bias_encoding: the integral GRU supports 'streams' only")
    sx = f["shift_x"][0] / srow / u
    sh = f["shift_h"][0] / srow / u
    rz, nn = slice(0, 2 * H), slice(2 * H, 3 * H)
    wi, wh = f["w_ih"], f["w_hh"]
    nodes = [
        _node(f"{n}.x_s", "encode", (f"{n}.x",), (I,), n, "bipolar", (-1, 1), {**common, "scale": u / ax, "repeat": 1}),
        _node(f"{n}.h_s", "encode", (f"{n}.h_prev",), (H,), n, "bipolar", (-1, 1), {**common, "scale": u / ah, "repeat": 1}),
        _node(f"{n}.px", "xnor_apc", (f"{n}.x_s",), (3 * H,), n, "integral", (-I, I), {}, {"weights": wi}),
        _node(f"{n}.ph", "xnor_apc", (f"{n}.h_s",), (3 * H,), n, "integral", (-H, H), {}, {"weights": wh}),
    ]
    for part, rows in (("px", rz), ("ph", rz), ("px", nn), ("ph", nn)):
        tag = "rz" if rows is rz else "n"
        nodes.append(_node(f"{n}.{part}_{tag}", "islice", (f"{n}.{part}",), (rows.stop - rows.start,), n,
                           "integral", (-I - H, I + H), {"rows": [rows.start, rows.stop]}))
    b_rz, nb_rz = _bias_bank(f"{n}.b_rz", n, (sx + sh)[rz], common)
    b_xn, nb_xn = _bias_bank(f"{n}.b_xn", n, sx[nn], common)
    b_hn, nb_hn = _bias_bank(f"{n}.b_hn", n, sh[nn], common)
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
    nodes.append(_wfsm_node(f"{n}.r_s", f"{n}.pre_r", p, n, sig, srow[:H] * u, m_rz[:H]))
    nodes.append(_wfsm_node(f"{n}.z_s", f"{n}.pre_z", p, n, sig + ACT_CODE["sigmoid_unipolar"], srow[H:2 * H] * u,
                            m_rz[H:], "unipolar"))
    nodes.append(_node(f"{n}.hn", "apc", (f"{n}.ph_n", *[b.name for b in b_hn]), (H,), n, "integral",
                       (-int(m_hn.max()), int(m_hn.max()))))
    nodes.append(_node(f"{n}.r_hn", "xnor_int", (f"{n}.r_s", f"{n}.hn"), (H,), n, "integral",
                       (-int(m_hn.max()), int(m_hn.max())), {"operands": int(m_hn.max())}))
    nodes.append(_node(f"{n}.pre_n", "apc", (f"{n}.px_n", f"{n}.r_hn", *[b.name for b in b_xn]), (H,), n, "integral",
                       (-int(m_n.max()), int(m_n.max()))))
    nodes.append(_wfsm_node(f"{n}.n_s", f"{n}.pre_n", p, n, sig + ACT_CODE["tanh"], srow[2 * H:] * u, m_n))
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
                                                          "bias_encoding", "fsm_input_model")}
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


def _target_fn(act: int, gain: float):
    if act in (ACT_CODE["sigmoid"], ACT_CODE["sigmoid_unipolar"]):
        return lambda z: 1.0 / (1.0 + np.exp(-gain * np.asarray(z, dtype=float)))
    return lambda z: np.tanh(gain * np.asarray(z, dtype=float))


def _layer_io(state: CompileState, layer: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(layer input x, previous hidden h_{t-1}) per (sample, step) on the calibration inputs, from
    the design reference (sign(h) where the design has it), or None without calibration data."""
    x = state.info.get("_calibration_inputs")
    if x is None:
        return None
    cache = state.info.setdefault("_golden", {})
    if "trace" not in cache:
        from ..compiler.golden import golden_forward  # noqa: PLC0415

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
    (w x a_x/u, w h a_h/u, bias streams) for the LSTM's integral gates (binary weights, bias
    streams; otherwise the binomial model)."""
    from ..fsm.inputs import BinomialInput, PoissonBinomialInput  # noqa: PLC0415

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
    wi, wh = nl.node(f"{node.layer}.px").arrays["weights"], nl.node(f"{node.layer}.ph").arrays["weights"]
    pre = nl.node(f"{node.layer}.pre")
    if io is None or np.any(wi == 0) or np.any(wh == 0) or np.any(pre.arrays.get("offset", 0) != 0):
        return binomial
    xin, h_prev = io
    xs = xin / float(nl.node(f"{node.layer}.x_s").params["scale"])
    hs = h_prev / float(nl.node(f"{node.layer}.h_s").params["scale"])
    bias = nl.node(f"{node.layer}.b_s").arrays["const"] if any(n.name == f"{node.layer}.b_s" for n in nl) else None
    S, T = xs.shape[:2]
    picks = rng.integers(0, S * T, size=256)
    prow = rng.choice(rows, size=256)
    xs, hs = xs.reshape(S * T, -1)[picks], hs.reshape(S * T, -1)[picks]
    parts = [wi[prow] * xs, wh[prow] * hs]
    if bias is not None:
        parts.append(bias[:, prow].T)
    ops = np.concatenate(parts, axis=1)
    if ops.shape[1] != M:
        return binomial
    return PoissonBinomialInput.from_array(np.clip(ops, -1, 1)), True


@register_pass("synthesize_fsms", optional=True, requires=("lower_layers",),
               description="synthesize WFSM weights for each gate/tanh(c) target and its input model (disabled: Stanh)")
def synthesize_fsms(state: CompileState) -> None:
    from ..fsm import synthesize_fsm  # noqa: PLC0415

    nodes = []
    report = []
    for node in state.netlist.nodes:
        if node.op != "wfsm":
            nodes.append(node)
            continue
        N, b = node.params["states"], node.params["weight_bits"]
        wq = np.array(node.arrays["wq"])
        models = []
        for g, (act, gain) in enumerate(zip(node.arrays["target_act"], node.arrays["target_gain"])):
            model, calibrated = _input_model(node, state, np.flatnonzero(node.arrays["group"] == g))
            models.append(model.name)
            M = model.max_step
            kwargs = {}
            if not calibrated:
                zmax = min(float(M), max(1.0, 8.0 / float(gain)))
                kwargs["domain"] = (-zmax, zmax)
            out_enc = "unipolar" if int(act) == ACT_CODE["sigmoid_unipolar"] else "bipolar"
            d = synthesize_fsm(_target_fn(int(act), float(gain)), states=N, input=model, weight_bits=b,
                               grid=401, output=out_enc, **kwargs)
            wq[g] = np.asarray(d.quantized_weights, dtype=np.int64)
            report.append({"node": node.name, "group": g, "target": {0: "sigmoid", 1: "tanh", 2: "sigmoid (unipolar)"}[int(act)],
                           "gain": float(gain), "input_model": model.name, "states": N,
                           "analytic_rmse": d.analytic_rmse, "analytic_max_error": d.analytic_max_error,
                           "baseline_max_error": d.baseline.analytic_max_error})
        nodes.append(node.replace(arrays={**node.arrays, "wq": wq},
                                  params={**node.params, "synthesized": True, "input_model": models}))
    state.netlist = state.netlist.with_nodes(nodes)
    state.info["fsms"] = report


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
    from ..compiler.runtime import correlation_report as measure  # noqa: PLC0415

    state.info["correlation"] = measure(state)


@register_pass("cost", optional=True, requires=("allocate_sources",),
               description="count the netlist's primitives (cost Inventory) and compare with the baselines")
def cost(state: CompileState) -> None:
    from ..compiler.inventory import cost_report  # noqa: PLC0415

    state.info["cost"] = cost_report(state.netlist, state.model, state.config)


_LOWER = ("check_model", "calibrate", "plan_datapath", "fold_batchnorm", "lower_layers", "synthesize_fsms",
          "insert_sngs", "allocate_sources")
register_flow("lower", _LOWER)
register_flow("default", _LOWER + ("schedule_length", "accuracy_report", "correlation_report", "cost"))
register_flow("fast", _LOWER + ("schedule_length", "cost"))
