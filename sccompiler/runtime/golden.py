"""The design reference: the quantized model's float64 forward with the compiled design's own
quantization points applied, i.e. what the SC hardware computes as L -> infinity.

It differs from :func:`sccompiler.reference.forward` only where the design says so:
``hidden='sign'`` makes h_t = sign(h_t) (sign(0) = +1), ``hidden='ternary'`` the ternary state
(``sim.rules.ternary_state`` against the layer's ``hidden_threshold``), and the LSTM cell state is saturated
to [-K, K] (``cell_range``) where the hardware stores it; with ``bn_steps: last|mean`` every
per-time-step batch norm is replaced by the one time-invariant affine the design uses
(:func:`design_layer`).  With ``hidden='stream'`` and c inside
the range the two are identical.  A fixed-point dense head (``mode: fixed``) uses its K-bit weights
s Wq (:func:`~sccompiler.quantize.schemes.head_codes`), so the report's design-vs-quantized gap
holds the head's quantization apart from the SC noise.  :func:`step_lstm` / :func:`step_gru` evaluate one time step on
given states (teacher forcing: the trace compares each simulated step with the reference step
evaluated on the SC's own previous state, which isolates the per-step stream error).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from ..ir.model import GRU, LSTM, Linear, Model, Tensor, direction_layers
from ..ir.sc import LayerOptions, concat_name
from ..quantize.bnfold import bn_affine_table, design_layer
from ..quantize.schemes import head_codes
from ..reference import hidden_state, layer_forward, sigmoid


def _bn_part(v: np.ndarray, w, bn, t: int) -> np.ndarray:
    """``BN_t(v W^T)`` (no BN: ``v W^T``), as in the reference forward."""
    a = v @ w.data.T
    if bn is None:
        return a
    s, m = bn_affine_table(bn, t + 1)
    return s[t] * a + m[t]


def step_lstm(layer: LSTM, x: np.ndarray, h: np.ndarray, c: np.ndarray, t: int, *, cell_range: float,
              hidden: str) -> dict[str, np.ndarray]:
    """One LSTM step (reference equations) with the design's saturation and hidden encoding."""
    H = layer.hidden_size
    pre = _bn_part(x, layer.w_ih, layer.bn_x, t) + _bn_part(h, layer.w_hh, layer.bn_h, t)
    for b in (layer.b_ih, layer.b_hh):
        if b is not None:
            pre = pre + b.data
    i, f = sigmoid(pre[:, :H]), sigmoid(pre[:, H:2 * H])
    g, o = np.tanh(pre[:, 2 * H:3 * H]), sigmoid(pre[:, 3 * H:])
    c_new = np.clip(f * c + i * g, -cell_range, cell_range)
    cn = c_new
    if layer.bn_c is not None:
        s, m = bn_affine_table(layer.bn_c, t + 1)
        cn = s[t] * c_new + m[t]
    h_pre = o * np.tanh(cn)
    h_new = h_pre if hidden == "stream" else hidden_state(hidden, h_pre, layer.hidden_threshold)
    return {"i": i, "f": f, "g": g, "o": o, "c": c_new, "h_pre": h_pre, "h": h_new}


def step_gru(layer: GRU, x: np.ndarray, h: np.ndarray, t: int, *, hidden: str) -> dict[str, np.ndarray]:
    """One GRU step (either linear_before_reset) with the design's hidden encoding."""
    H = layer.hidden_size
    xp = _bn_part(x, layer.w_ih, layer.bn_x, t)
    if layer.b_ih is not None:
        xp = xp + layer.b_ih.data
    hp = _bn_part(h, layer.w_hh, layer.bn_h, t)
    if layer.b_hh is not None:
        hp = hp + layer.b_hh.data
    r = sigmoid(xp[:, :H] + hp[:, :H])
    z = sigmoid(xp[:, H:2 * H] + hp[:, H:2 * H])
    if layer.linear_before_reset:
        n = np.tanh(xp[:, 2 * H:] + r * hp[:, 2 * H:])
    else:                                   # ONNX default: BNh_n((r*h) W_hn^T) + b_hn
        hn = (r * h) @ layer.w_hh.data[2 * H:].T
        if layer.bn_h is not None:
            s, m = bn_affine_table(layer.bn_h, t + 1)
            hn = s[t][2 * H:] * hn + m[t][2 * H:]
        if layer.b_hh is not None:
            hn = hn + layer.b_hh.data[2 * H:]
        n = np.tanh(xp[:, 2 * H:] + hn)
    h_pre = (1.0 - z) * n + z * h
    h_new = h_pre if hidden == "stream" else hidden_state(hidden, h_pre, layer.hidden_threshold)
    return {"r": r, "z": z, "n": n, "h_pre": h_pre, "h": h_new}


def design_points(options: LayerOptions | None, model_hidden: str = "identity") -> tuple[str, float, str]:
    """(bn_steps, cell_range, hidden) of a layer's options: the design's quantization points
    (no options: the quantized model's own, i.e. per-step tables, no saturation, and the model's
    hidden states: real h, or sign(h) where ``model_hidden`` is ``sign``)."""
    o = options or LayerOptions()
    own = model_hidden if model_hidden in ("sign", "ternary") else "stream"
    return (o.bn_steps or "tables", float(o.cell_range) if o.cell_range is not None else np.inf,
            o.hidden or own)


def fixed_head_layer(lay: Linear, bits: int) -> Linear:
    """A dense head with its weights replaced by the fixed-point head's s * Wq."""
    codes, scale, _ = head_codes(lay.weight, bits)
    return dataclasses.replace(lay, weight=Tensor(codes.astype(np.float64) * scale))


def golden_forward(model: Model, options: Mapping[str, LayerOptions], x: np.ndarray) -> tuple[np.ndarray, dict]:
    """Forward of the whole model with the design's quantization points (``options``: layer name
    -> the netlist's :class:`~sccompiler.ir.sc.LayerOptions`); returns (output, trace) with
    per-layer (B, T, .) arrays (LSTM i f g o c h, GRU r z n h, others out)."""
    h_seq = np.asarray(x)
    if h_seq.dtype.kind == "f":
        h_seq = h_seq.astype(np.float64)
    trace: dict = {}
    for lay in model.layers:
        own_hidden = getattr(lay, "hidden_activation", "identity")
        bn_steps, cell_range, hidden = design_points(options.get(lay.name), own_hidden)
        lay = design_layer(lay, bn_steps)
        opts = options.get(lay.name)
        if isinstance(lay, Linear) and opts is not None and opts.mode == "fixed":
            lay = fixed_head_layer(lay, int(opts.weight_bits))
        if isinstance(lay, (LSTM, GRU)) and lay.direction == "bidirectional":
            # as the runtimes (engine.LayerFlow): the backward direction on the sequence reversed in
            # time, its trace in the sequence's order; the layer's output concat(forward, backward)
            fwd, bwd = direction_layers(lay)
            trace[fwd.name] = _recurrent_steps(fwd, h_seq, cell_range, hidden)
            rec_b = _recurrent_steps(bwd, h_seq[:, ::-1], cell_range, hidden)
            trace[bwd.name] = {k: v[:, ::-1] for k, v in rec_b.items()}
            h_seq = np.concatenate([trace[fwd.name]["h"], trace[bwd.name]["h"]], axis=-1)
            trace[concat_name(lay.name)] = {"out": h_seq}
        elif isinstance(lay, (LSTM, GRU)):
            trace[lay.name] = _recurrent_steps(lay, h_seq, cell_range, hidden)
            h_seq = trace[lay.name]["h"]
        else:
            h_seq, rec = layer_forward(lay, h_seq, None, True)
            trace[lay.name] = rec
    return h_seq, trace


def _recurrent_steps(lay: LSTM | GRU, h_seq: np.ndarray, cell_range: float, hidden: str) -> dict[str, np.ndarray]:
    """One unidirectional recurrent layer over ``h_seq`` (B, T, I) from zero state: its trace."""
    B, T = h_seq.shape[:2]
    H = lay.hidden_size
    h = np.zeros((B, H))
    c = np.zeros((B, H))
    rec: dict[str, list] = {}
    for t in range(T):
        if isinstance(lay, LSTM):
            s = step_lstm(lay, h_seq[:, t], h, c, t, cell_range=cell_range, hidden=hidden)
            c = s["c"]
        else:
            s = step_gru(lay, h_seq[:, t], h, t, hidden=hidden)
        h = s["h"]
        for k, v in s.items():
            rec.setdefault(k, []).append(v)
    return {k: np.stack(v, axis=1) for k, v in rec.items()}
