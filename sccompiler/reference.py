"""Reference forward pass in numpy float64: the ground truth every later stage is checked against.

:func:`forward` runs a :class:`~sccompiler.ir.model.Model` on a batch, vectorized over the batch
and looping over time only.  Quantized tensors are used as they are (float arrays holding the
levels).  Equations (gate orders of :mod:`sccompiler.ir.model`, ``BN_t`` = the batch norm at step
``t``, ``x@W.T`` the per-step matrix product):

LSTM::

    pre_t = BNx_t(x_t W_ih^T) + BNh_t(h_{t-1} W_hh^T) + b_ih + b_hh     # (batch, 4H), i f g o
    i, f, o = sigmoid(pre_i, pre_f, pre_o);  g = tanh(pre_g)
    c_t = f*c_{t-1} + i*g;   h_t = o * tanh(BNc_t(c_t))                # BNc optional

GRU (``xp = BNx_t(x_t W_ih^T) + b_ih``, ``hp = BNh_t(h_{t-1} W_hh^T) + b_hh``, rows r z n)::

    r = sigmoid(xp_r + hp_r);  z = sigmoid(xp_z + hp_z)
    n = tanh(xp_n + r * hp_n)                                 # linear_before_reset=True (PyTorch)
    n = tanh(xp_n + BNh_t,n((r*h_{t-1}) W_hn^T) + b_hn)       # linear_before_reset=False (ONNX)
    h_t = (1-z)*n + z*h_{t-1}

For ``linear_before_reset=False`` the trace's ``pre_h`` n-block holds the value used,
``BNh_t,n((r*h) W_hn^T) + b_hn``.  Every batch norm is evaluated as ``s*a + m`` with
``(s, m)`` from :func:`sccompiler.quantize.bnfold.bn_affine_table` (bit-identical to
``BatchNormParams.at(t)``), then the biases are added.

Linear, Activation and BatchNorm act per time step; ``sign(0) = +1``; softmax is over the last axis.
LastStep keeps the last time step, ``(batch, time, F) -> (batch, 1, F)``; after a bidirectional
layer its ``select`` may instead keep the directions' final states (:func:`last_step`).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .errors import ConfigError, SCValueError, UnsupportedOpError
from .ir.model import (
    GRU,
    LSTM,
    Activation,
    BatchNorm,
    BatchNormParams,
    Embedding,
    LastStep,
    Layer,
    Linear,
    Model,
    direction_layers,
)
from .quantize.bnfold import bn_affine_table
from .sim.rules import last_step_select, ternary_state

Trace = dict[str, dict[str, np.ndarray]]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, overflow-free for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def sign(x: np.ndarray) -> np.ndarray:
    """±1 with sign(0) = +1 (the binary-activation convention)."""
    return np.where(x >= 0, 1.0, -1.0)


def hidden_state(kind: str, h: np.ndarray, threshold: float) -> np.ndarray:
    """What a recurrent layer hands on: h itself (``identity``), sign(h) (``sign``) or the
    ternary state (``ternary``: :func:`~sccompiler.sim.rules.ternary_state` against ``threshold``)."""
    if kind == "sign":
        return sign(h)
    if kind == "ternary":
        return ternary_state(h, threshold)
    return h


ACTIVATION_FUNCTIONS = {
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "softmax": softmax,
    "identity": lambda x: x,
    "sign": sign,
}


# --------------------------------------------------------------------------------- validation
def check_input(model: Model, x: Any) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise SCValueError("x", f"cannot be read as an array: {exc}") from None
    if model.input.kind == "tokens":
        if arr.ndim != 2:
            raise SCValueError("x", f"token ids must have shape (batch, time), got {arr.shape}")
        if arr.dtype.kind not in "iu":
            raise SCValueError("x", f"token ids must be integers, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= model.input.size):
            raise SCValueError(
                "x", f"token ids must lie in [0, {model.input.size}), got range "
                     f"[{arr.min()}, {arr.max()}]")
        arr = arr.astype(np.int64)
    else:
        if arr.ndim != 3:
            raise SCValueError("x", f"inputs must have shape (batch, time, features), got {arr.shape}")
        if arr.dtype.kind not in "iuf" or arr.dtype == np.bool_:
            raise SCValueError("x", f"inputs must be real numbers, got dtype {arr.dtype}")
        if arr.shape[2] != model.input.size:
            raise SCValueError(
                "x", f"inputs have {arr.shape[2]} features, the model expects {model.input.size}")
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise SCValueError("x", "inputs contain NaN/inf values")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise SCValueError("x", f"need at least one sequence and one time step, got shape {arr.shape}")
    return arr


def _state(initial_state: Mapping | None, layer: Layer, batch: int, parts: int) -> list[np.ndarray]:
    """Initial (h,) or (h, c) for a recurrent layer, each (batch, hidden); zeros by default."""
    hidden = layer.hidden_size
    if initial_state is None or layer.name not in initial_state:
        return [np.zeros((batch, hidden)) for _ in range(parts)]
    given = initial_state[layer.name]
    items = list(given) if isinstance(given, (tuple, list)) else [given]
    if len(items) != parts:
        what = "(h0, c0)" if parts == 2 else "h0"
        raise SCValueError("initial_state", f"layer {layer.name!r} needs {what}, got {len(items)} array(s)")
    out = []
    for arr in items:
        a = np.asarray(arr, dtype=np.float64)
        if a.shape not in ((hidden,), (batch, hidden)):
            raise SCValueError(
                "initial_state", f"layer {layer.name!r}: state shape {a.shape} is neither "
                                 f"({hidden},) nor ({batch}, {hidden})")
        if not np.all(np.isfinite(a)):
            raise SCValueError("initial_state", f"layer {layer.name!r}: state contains NaN/inf")
        out.append(np.array(np.broadcast_to(a, (batch, hidden))))
    return out


# ------------------------------------------------------------------------------------- layers
def _bn_apply(bn: BatchNormParams | None, a: np.ndarray) -> np.ndarray:
    """Batch norm over a whole sequence ``a`` (batch, time, features), per-step statistics."""
    if bn is None:
        return a
    scale, shift = bn_affine_table(bn, a.shape[1])
    return scale * a + shift


def _bias(t) -> np.ndarray | float:
    return 0.0 if t is None else t.data


def _lstm(layer: LSTM, x: np.ndarray, state: list[np.ndarray], trace: bool):
    batch, steps, _ = x.shape
    hidden = layer.hidden_size
    # the input part of every step at once: BNx(x W_ih^T) + b_ih + b_hh
    xpart = _bn_apply(layer.bn_x, x @ layer.w_ih.data.T) + _bias(layer.b_ih) + _bias(layer.b_hh)
    w_hh_t = layer.w_hh.data.T
    bn_h = bn_affine_table(layer.bn_h, steps) if layer.bn_h is not None else None
    bn_c = bn_affine_table(layer.bn_c, steps) if layer.bn_c is not None else None
    h, c = state
    keys = ("i", "f", "g", "o", "c", "h", "pre")
    rec = {k: np.empty((batch, steps, 4 * hidden if k == "pre" else hidden)) for k in keys} if trace else None
    out = np.empty((batch, steps, hidden))
    for t in range(steps):
        hpart = h @ w_hh_t
        if bn_h is not None:
            hpart = bn_h[0][t] * hpart + bn_h[1][t]
        pre = xpart[:, t] + hpart
        i = sigmoid(pre[:, :hidden])
        f = sigmoid(pre[:, hidden:2 * hidden])
        g = np.tanh(pre[:, 2 * hidden:3 * hidden])
        o = sigmoid(pre[:, 3 * hidden:])
        c = f * c + i * g
        cn = c if bn_c is None else bn_c[0][t] * c + bn_c[1][t]
        h = o * np.tanh(cn)
        h = hidden_state(layer.hidden_activation, h, layer.hidden_threshold)
        out[:, t] = h
        if rec is not None:
            for k, v in zip(keys, (i, f, g, o, c, h, pre)):
                rec[k][:, t] = v
    return out, rec


def _gru(layer: GRU, x: np.ndarray, state: list[np.ndarray], trace: bool):
    batch, steps, _ = x.shape
    hidden = layer.hidden_size
    xpart = _bn_apply(layer.bn_x, x @ layer.w_ih.data.T) + _bias(layer.b_ih)
    w_hh = layer.w_hh.data
    b_hh = np.zeros(3 * hidden) if layer.b_hh is None else layer.b_hh.data
    bn_h = bn_affine_table(layer.bn_h, steps) if layer.bn_h is not None else None
    n_rows = slice(2 * hidden, 3 * hidden)
    (h,) = state
    keys = ("r", "z", "n", "h", "pre_x", "pre_h")
    rec = {k: np.empty((batch, steps, 3 * hidden if k.startswith("pre") else hidden))
           for k in keys} if trace else None
    out = np.empty((batch, steps, hidden))
    for t in range(steps):
        xp = xpart[:, t]
        if layer.linear_before_reset:
            hp = h @ w_hh.T
            if bn_h is not None:
                hp = bn_h[0][t] * hp + bn_h[1][t]
            hp = hp + b_hh
        else:
            hp = np.empty((batch, 3 * hidden))
            hp[:, :2 * hidden] = h @ w_hh[:2 * hidden].T
            if bn_h is not None:
                hp[:, :2 * hidden] = bn_h[0][t][:2 * hidden] * hp[:, :2 * hidden] + bn_h[1][t][:2 * hidden]
            hp[:, :2 * hidden] += b_hh[:2 * hidden]
        r = sigmoid(xp[:, :hidden] + hp[:, :hidden])
        z = sigmoid(xp[:, hidden:2 * hidden] + hp[:, hidden:2 * hidden])
        if not layer.linear_before_reset:
            hn = (r * h) @ w_hh[n_rows].T
            if bn_h is not None:
                hn = bn_h[0][t][n_rows] * hn + bn_h[1][t][n_rows]
            hp[:, n_rows] = hn + b_hh[n_rows]
            n = np.tanh(xp[:, n_rows] + hp[:, n_rows])
        else:
            n = np.tanh(xp[:, n_rows] + r * hp[:, n_rows])
        h = (1.0 - z) * n + z * h
        h = hidden_state(layer.hidden_activation, h, layer.hidden_threshold)
        out[:, t] = h
        if rec is not None:
            for k, v in zip(keys, (r, z, n, h, xp, hp)):
                rec[k][:, t] = v
    return out, rec


def _bidirectional(layer: LSTM | GRU, x: np.ndarray, initial_state, trace: bool):
    """concat(forward h_t, backward h_t): the backward direction runs on x reversed in time (its
    initial state under ``NAME.reverse``); its trace is under ``NAME.reverse``'s keys with a
    ``reverse.`` prefix, in the sequence's own time order."""
    fwd, bwd = direction_layers(layer)
    out_f, rec_f = layer_forward(fwd, x, initial_state, trace)
    out_b, rec_b = layer_forward(bwd, x[:, ::-1], initial_state, trace)
    out = np.concatenate([out_f, out_b[:, ::-1]], axis=-1)
    if not trace:
        return out, None
    return out, rec_f | {f"reverse.{k}": v[:, ::-1] for k, v in rec_b.items()} | {"out": out}


def last_step(layer: LastStep, x: np.ndarray) -> np.ndarray:
    """``(B, T, F) -> (B, 1, ·)``: the output at the last step, or after a bidirectional layer
    (``F = 2H``, forward half first) its directions' final states: the forward one is its output at
    step T-1, the backward one (which ran from step T-1 down to 0) its output at step 0 (the one
    rule, :func:`sccompiler.sim.rules.last_step_select`)."""
    return last_step_select(x, layer.select)


def layer_forward(layer: Layer, x: np.ndarray, initial_state, trace: bool):
    if isinstance(layer, (LSTM, GRU)) and layer.direction == "bidirectional":
        return _bidirectional(layer, x, initial_state, trace)
    if isinstance(layer, LSTM):
        return _lstm(layer, x, _state(initial_state, layer, x.shape[0], 2), trace)
    if isinstance(layer, GRU):
        return _gru(layer, x, _state(initial_state, layer, x.shape[0], 1), trace)
    if isinstance(layer, Embedding):
        out = layer.weight.data[x]
    elif isinstance(layer, Linear):
        out = x @ layer.weight.data.T + _bias(layer.bias)
    elif isinstance(layer, BatchNorm):
        out = _bn_apply(layer.params, x)
    elif isinstance(layer, Activation):
        out = ACTIVATION_FUNCTIONS[layer.function](x)
    elif isinstance(layer, LastStep):
        out = last_step(layer, x)
    else:
        raise UnsupportedOpError(layer.kind, layer.name, "no reference implementation")
    return out, ({"out": out} if trace else None)


def forward(model: Model, x, *, initial_state: Mapping[str, Any] | None = None,
            return_trace: bool = False):
    """Run ``model`` on ``x``; return the last layer's output ``(batch, time, features)`` (``time``
    = 1 after a :class:`~sccompiler.ir.model.LastStep` layer).

    ``x``: ``(batch, time, features)`` reals for a feature model, ``(batch, time)`` integer token
    ids in ``[0, vocabulary)`` for a token model.  ``initial_state``: ``{layer_name: h0}`` for a GRU,
    ``{layer_name: (h0, c0)}`` for an LSTM, each ``(hidden,)`` or ``(batch, hidden)``; zeros
    otherwise.  With ``return_trace=True`` return ``(output, trace)``: ``trace[layer.name]`` maps
    to ``(batch, time, ·)`` arrays: LSTM ``i f g o c h`` (gate values after their nonlinearity,
    ``c`` the cell state before ``BNc``) and ``pre`` (``(batch, time, 4H)`` pre-activations in
    gate order); GRU ``r z n h pre_x pre_h`` (module docstring); other layers ``out``.
    Bad shapes, dtypes or token ids raise :class:`~sccompiler.errors.SCValueError`.
    """
    model.validate()
    if not model.layers:
        raise ConfigError("the model has no layers")
    if initial_state is not None:
        if not isinstance(initial_state, Mapping):
            raise SCValueError("initial_state", "must map layer names to state arrays")
        recurrent = {d.name for lay in model.layers if isinstance(lay, (LSTM, GRU)) for d in direction_layers(lay)}
        unknown = sorted(set(initial_state) - recurrent)
        if unknown:
            raise SCValueError("initial_state", f"no recurrent layer named {', '.join(map(repr, unknown))}")
    h = check_input(model, x)
    trace: Trace = {}
    for layer in model.layers:
        h, rec = layer_forward(layer, h, initial_state, return_trace)
        if rec is not None:
            trace[layer.name] = rec
    return (h, trace) if return_trace else h
