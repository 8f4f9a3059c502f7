"""Typed, frozen per-layer plans: what the compiler decided for each layer before lowering it.

:func:`plan_layers` walks the model once and records, per layer, what it receives (:class:`Feed`:
exact levels or a real range) and the resolved options (``auto`` choices made, conflicts refused
with a :class:`~sccompiler.errors.ConfigError`).  :func:`fold_recurrent` folds a recurrent
layer's batch norms and biases into the per-row scales and shifts the lowering reads
(:class:`FoldedRecurrent`).  Nothing here builds netlist nodes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..config import CompileConfig
from ..errors import ConfigError
from ..ir.model import GRU, LSTM, Activation, BatchNorm, Embedding, LastStep, Linear, Model, direction_layers
from ..ir.sc import concat_name
from ..quantize.bnfold import design_layer
from ..quantize.schemes import head_codes
from ..sim.rules import auto_macs, stats_rows
from .common import affine_tables, bias_vector, exact_levels, is_sc_levels, weight_levels


@dataclass(frozen=True)
class Feed:
    """What a layer receives (or produces) per time step: exact values in {-scale, 0, scale}
    (binary/ternary: XNOR + popcount operands), or real values bounded by ``range``."""

    exact: bool
    scale: float = 1.0
    range: float = 1.0

    def to_json(self) -> dict:
        return {"exact": self.exact, "scale": self.scale, "range": self.range}


@dataclass(frozen=True)
class RecurrentPlan:
    """An LSTM/GRU layer's datapath: the resolved :class:`~sccompiler.config.LayerConfig` options."""

    name: str
    kind: str                      # lstm | gru
    input: Feed
    output: Feed
    length: int
    sng_bits: int
    gate_input: str                # table | integral_wfsm (auto resolved)
    hidden: str
    cell_range: int
    gate_fsm_states: int | str
    cell_fsm_states: int | str
    fsm_tolerance: float
    fsm_weight_bits: int
    fsm_state: str
    bias_encoding: str
    fsm_input_model: str
    bn_steps: str
    gate_sngs: str
    sign_from: str = "cell"

    @property
    def gate_count(self) -> int:
        """Gate blocks lowered: an LSTM whose h is read off its cell (``sign_from: cell``) has no
        use for o (o > 0 never changes sign(o tanh(c))), so its rows are never built."""
        if self.kind == "gru":
            return 3
        return 3 if (self.hidden == "sign" and self.sign_from == "cell") else 4


@dataclass(frozen=True)
class DensePlan:
    """A dense layer: ``exact`` (XNOR + popcount of exact inputs), ``stream`` (counted SC estimate)
    or ``fixed`` (weights not binary/ternary: ``weight_bits``-bit integer weights times the exact
    input codes, or times per-input stream counts when the input is real-valued)."""

    name: str
    input: Feed
    output: Feed
    length: int
    sng_bits: int
    mode: str
    kind: str = "dense"
    weight_bits: int | None = None
    #: a fixed-point head's multiply-accumulate units P (None: fully parallel, combinational)
    macs: int | None = None

    @property
    def streamed(self) -> bool:
        """Whether the layer encodes its input as streams (L cycles per step: a timed layer)."""
        return not self.input.exact


@dataclass(frozen=True)
class PassThroughPlan:
    """A binary-domain layer (embedding, batch norm, activation, last step): no stream length of its own."""

    name: str
    kind: str
    input: Feed
    output: Feed
    #: a bidirectional layer's ``concat`` plan: T_max, the depth of its sequence buffers
    max_steps: int | None = None


LayerPlanT = RecurrentPlan | DensePlan | PassThroughPlan


def plan_json(plan: LayerPlanT) -> dict:
    """A plan as plain JSON (feeds as dicts): the ``plans`` entry of design.json."""
    out = {}
    for f in dataclasses.fields(plan):
        v = getattr(plan, f.name)
        out[f.name] = v.to_json() if isinstance(v, Feed) else v
    return out


@dataclass(frozen=True, eq=False)
class FoldedRecurrent:
    """A recurrent layer's weights as integer levels and its batch norms and biases folded into
    per-step, per-row tables (T = 1 without per-step statistics):

    pre-activation at step t = scale_x[t] alpha_ih (W_ih x) + scale_h[t] alpha_hh (W_hh h) + shift[t]
    (GRU: ``shift_x`` and ``shift_h`` apart, r multiplies the n block of the h part); ``scale_c`` /
    ``shift_c``: bn_c before tanh(c) (LSTM only, None without)."""

    w_ih: np.ndarray
    w_hh: np.ndarray
    alpha_ih: float
    alpha_hh: float
    scale_x: np.ndarray
    scale_h: np.ndarray
    shift: np.ndarray | None = None
    shift_x: np.ndarray | None = None
    shift_h: np.ndarray | None = None
    scale_c: np.ndarray | None = None
    shift_c: np.ndarray | None = None

    @property
    def per_step(self) -> bool:
        return max(self.scale_x.shape[0], self.scale_h.shape[0]) > 1

    def first_rows(self, rows: int) -> FoldedRecurrent:
        """The gate rows ``[0, rows)`` only (an LSTM whose h is read off c needs no o rows)."""
        def cut(a):
            return None if a is None else a[..., :rows]
        return dataclasses.replace(self, w_ih=self.w_ih[:rows], w_hh=self.w_hh[:rows], scale_x=cut(self.scale_x),
                       scale_h=cut(self.scale_h), shift=cut(self.shift))


# ------------------------------------------------------------------------------------- planning
def _input_feed(model: Model, cfg: CompileConfig, calib: dict) -> Feed:
    """What the first layer sees: tokens (embedding ids), exact levels or a real range."""
    if model.input.kind == "tokens":
        return Feed(False, 1.0, 1.0)
    lv = calib.get("input_levels") if cfg.input_encoding == "auto" else None
    rng = cfg.input_range or calib.get("input_max_abs") or 1.0
    if cfg.input_encoding == "exact":
        return Feed(True, float(cfg.input_range or calib.get("input_max_abs") or 1.0), rng)
    if lv is not None and cfg.input_encoding == "auto":
        return Feed(True, float(lv), float(lv))
    return Feed(False, 1.0, float(rng))


#: hidden encodings whose h_t is exact (a code in {-1, 0, +1}): table gates can read them
EXACT_HIDDEN = ("sign", "ternary")


def resolve_hidden(lay: LSTM | GRU, hidden: str) -> str:
    """The hidden encoding of a layer: ``auto`` follows the model (sign for binary hidden states,
    ternary for ternary ones); an encoding other than the model's on a layer the model defines
    with sign(h) or ternary(h) would compute another network and is refused."""
    own = {"sign": "sign", "ternary": "ternary"}.get(lay.hidden_activation)
    if hidden == "auto":
        return own or "stream"
    if own is not None and hidden != own:
        what = {"sign": "binary hidden states (hidden_activation sign)",
                "ternary": "ternary hidden states (hidden_activation ternary, threshold "
                           f"{lay.hidden_threshold:g})"}[own]
        got = {"stream": "real-valued h_t", "sign": "binary h_t", "ternary": "ternary h_t"}[hidden]
        raise ConfigError(f"layers.{lay.name}.hidden: {hidden!r} gives {got}, but the model's layer "
                          f"{lay.name!r} has {what}; use hidden {own!r} or 'auto'")
    return hidden


def _recurrent_plan(lay: LSTM | GRU, feed: Feed, cfg: CompileConfig) -> RecurrentPlan:
    lc = cfg.layer(lay.name)
    length = cfg.layer_length(lay.name)
    hidden = resolve_hidden(lay, lc.hidden)
    mode = lc.gate_input
    # linear_before_reset=0: r*h enters W_hn, a real-valued operand vector that only the stream
    # datapath (XNOR of r's stream with h's) can form
    reset_first = isinstance(lay, GRU) and not lay.linear_before_reset
    if mode == "auto":
        mode = "table" if feed.exact and hidden in EXACT_HIDDEN and not reset_first else "integral_wfsm"
    if mode == "table" and reset_first:
        raise ConfigError(f"layers.{lay.name}.gate_input: 'table' cannot lower GRU linear_before_reset=0 "
                          f"(W_hn (r*h) has real-valued operands r*h); use --set {lay.name}.gate_input=integral_wfsm")
    if mode == "table" and not (feed.exact and hidden in EXACT_HIDDEN):
        why = ("its input x is multi-level (if it is binary/ternary, show it with a --calibration set or "
               "--set input_encoding=exact)") if not feed.exact else "hidden: stream makes h multi-level"
        raise ConfigError(f"layers.{lay.name}.gate_input: 'table' needs exact (binary/ternary) operands, but "
                          f"{why}; use --set {lay.name}.gate_input=integral_wfsm, or --set {lay.name}.hidden=sign "
                          "with binary inputs")
    if lc.gate_sngs == "per_gate" and isinstance(lay, GRU) and mode == "integral_wfsm":
        raise ConfigError(f"layers.{lay.name}.gate_sngs: 'per_gate' is implemented for LSTM layers only; "
                          f"use --set {lay.name}.gate_sngs=shared for GRU layers")
    out = Feed(True, 1.0, 1.0) if hidden in EXACT_HIDDEN else Feed(False, 1.0, 1.0)
    return RecurrentPlan(
        name=lay.name, kind=lay.kind, input=feed, output=out, length=length, sng_bits=lc.bits_for(length),
        gate_input=mode, hidden=hidden, cell_range=lc.cell_range, gate_fsm_states=lc.gate_fsm_states,
        cell_fsm_states=lc.cell_fsm_states, fsm_tolerance=lc.fsm_tolerance, fsm_weight_bits=lc.fsm_weight_bits,
        fsm_state=lc.fsm_state, bias_encoding=lc.bias_encoding, fsm_input_model=lc.fsm_input_model,
        bn_steps=lc.bn_steps, gate_sngs=lc.gate_sngs,
        sign_from=lc.sign_from if (hidden == "sign" and lay.kind == "lstm") else "output")


def _head_macs(lay: Linear, option: int | str, period: int) -> int | None:
    """``head_macs`` resolved: None (full), P, or ``auto``'s smallest P fitting one step period."""
    if option == "full":
        return None
    n = lay.out_size * lay.in_size
    if option == "auto":
        return auto_macs(n, period)
    if option > n:
        raise ConfigError(f"layers.{lay.name}.head_macs: {option} exceeds the head's {lay.out_size} x "
                          f"{lay.in_size} = {n} products; use at most {n}, or 'full'")
    return int(option)


def _dense_plan(lay: Linear, feed: Feed, cfg: CompileConfig, prev_length: int, period: int) -> DensePlan:
    lc = cfg.layer(lay.name)
    length = lc.length if lc.length is not None else prev_length
    # the range of what the next layer sees is a hard bound, not a calibration maximum: the SC
    # estimate of W x may reach any value the counter can hold
    mag = feed.scale if feed.exact else feed.range
    bias = float(np.max(np.abs(bias_vector(lay.bias, lay.out_size))))
    if not is_sc_levels(lay.weight):
        # a float / k-bit head: integer weights Wq times the integer h the SC core produces
        codes, scale, bits = head_codes(lay.weight, lc.head_weight_bits)
        bound = scale * mag * float(np.abs(codes).sum(1).max()) + bias
        # the step period the head overlaps: the longest L of the timed layers (its own, if streamed)
        step = max(period, length if not feed.exact else 0)
        return DensePlan(lay.name, feed, Feed(False, 1.0, max(bound, 1e-12)), length, lc.bits_for(length),
                         "fixed", weight_bits=bits, macs=_head_macs(lay, lc.head_macs, step))
    levels, alpha = weight_levels(lay.weight, "weight", lay.name)
    bound = alpha * mag * float(np.abs(levels).sum(1).max()) + bias
    return DensePlan(lay.name, feed, Feed(False, 1.0, max(bound, 1e-12)), length, lc.bits_for(length),
                     "exact" if feed.exact else "stream")


def _pass_through_output(lay, feed: Feed) -> Feed:
    if isinstance(lay, Embedding):
        lv = exact_levels(lay.weight.data)
        return Feed(lv is not None, float(lv or 1.0), float(np.max(np.abs(lay.weight.data)) or 1.0))
    if isinstance(lay, Activation):
        if lay.function == "sign":
            return Feed(True, 1.0, 1.0)
        if lay.function in ("sigmoid", "tanh", "softmax"):
            return Feed(False, 1.0, 1.0)
        return Feed(False, 1.0, feed.range if not feed.exact else feed.scale)   # relu / identity keep the bound
    if isinstance(lay, LastStep):
        return feed                   # the last step's values (or the directions' final states), as they are
    if isinstance(lay, BatchNorm):
        sc, sh = affine_tables(lay.params, lay.params.features)
        mag = feed.scale if feed.exact else feed.range
        return Feed(False, 1.0, float(np.max(np.abs(sc) * mag + np.abs(sh))))
    raise ConfigError(f"layer {lay.name!r}: no SC plan for layer kind {lay.kind!r}")


#: T_max of a bidirectional layer's sequence buffers without ``max_steps`` and calibration data
DEFAULT_MAX_STEPS = 128


def max_steps(cfg: CompileConfig, calib: dict) -> int:
    """T_max of the sequence buffers: ``max_steps``, else the calibration sequences' length, else
    :data:`DEFAULT_MAX_STEPS` (docs/semantics.md, "Bidirectional layers")."""
    if cfg.max_steps is not None:
        steps = calib.get("steps")
        if steps and steps > cfg.max_steps:
            raise ConfigError(f"max_steps: {cfg.max_steps} steps of sequence buffers cannot hold the calibration "
                              f"sequences ({steps} steps); use --set max_steps={steps} (or more)")
        return int(cfg.max_steps)
    return int(calib.get("steps") or DEFAULT_MAX_STEPS)


def plan_layers(model: Model, cfg: CompileConfig, calib: dict) -> dict[str, LayerPlanT]:
    """Per layer, in model order: its feed and resolved datapath options.  A bidirectional layer
    ``NAME`` gets three plans: ``NAME`` (forward), ``NAME.reverse`` (the same options: the config
    of ``NAME`` applies to both directions) and ``NAME.concat`` (the sequence buffers)."""
    feed = _input_feed(model, cfg, calib)
    plans: dict[str, LayerPlanT] = {}
    prev_length = cfg.length
    period = 0
    for lay in model.layers:
        if isinstance(lay, (LSTM, GRU)):
            plan = _recurrent_plan(lay, feed, cfg)
            prev_length = plan.length
            period = max(period, plan.length)
            if lay.direction == "bidirectional":
                bwd = direction_layers(lay)[1]
                plans[lay.name] = plan
                plans[bwd.name] = dataclasses.replace(plan, name=bwd.name)
                plan = PassThroughPlan(concat_name(lay.name), "concat", plan.output, plan.output,
                                       max_steps=max_steps(cfg, calib))
                plans[plan.name] = plan
                feed = plan.output
                continue
        elif isinstance(lay, Linear):
            plan = _dense_plan(lay, feed, cfg, prev_length, period)
        else:
            plan = PassThroughPlan(lay.name, lay.kind, feed, _pass_through_output(lay, feed))
        plans[lay.name] = plan
        feed = plan.output
    return plans


# ------------------------------------------------------------------------------------- folding
def fold_recurrent(lay: LSTM | GRU, bn_steps: str) -> FoldedRecurrent:
    """Fold ``lay``'s batch norms (collapsed as ``bn_steps`` says) and biases (see
    :class:`FoldedRecurrent`); per-step tables have one row per statistics row."""
    lay = design_layer(lay, bn_steps)
    rows = lay.w_ih.shape[0]
    wi, ai = weight_levels(lay.w_ih, "w_ih", lay.name)
    wh, ah = weight_levels(lay.w_hh, "w_hh", lay.name)
    sx, mx = affine_tables(lay.bn_x, rows)
    sh, mh = affine_tables(lay.bn_h, rows)
    bi, bh = bias_vector(lay.b_ih, rows), bias_vector(lay.b_hh, rows)
    steps = max(sx.shape[0], sh.shape[0])
    idx_x = stats_rows(steps, sx.shape[0])
    idx_h = stats_rows(steps, sh.shape[0])
    parts: dict = {"w_ih": wi, "w_hh": wh, "alpha_ih": ai, "alpha_hh": ah, "scale_x": sx[idx_x], "scale_h": sh[idx_h]}
    if isinstance(lay, LSTM):
        parts["shift"] = mx[idx_x] + mh[idx_h] + bi + bh
        if lay.bn_c is not None:
            parts["scale_c"], parts["shift_c"] = affine_tables(lay.bn_c, lay.hidden_size)
    else:  # GRU: the n block of the h part stays separate (r multiplies it)
        parts["shift_x"] = mx[idx_x] + bi
        parts["shift_h"] = mh[idx_h] + bh
    return FoldedRecurrent(**parts)
