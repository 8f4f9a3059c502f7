"""k-bit fixed-point version of an LSTM/GRU model: the integer model of the fixed-point BASELINE.

:class:`FixedPointModel` holds integer weights and the number formats; :meth:`FixedPointModel.forward`
is the exact integer reference that the emitted baseline RTL
(:mod:`sccompiler.backends.verilog.fixed_point`) must reproduce bit for bit.  Formats (``k`` =
``bits``; ``Qf`` = a two's-complement integer ``v`` meaning ``v / 2^f``; docs/fixed-point-baseline.md):

* **activations** (inputs, h, gate outputs): k-bit signed Q(k-1), values in [-1, 1 - 2^-(k-1)].
  Sigmoid outputs are never negative, so they are stored as k-1-bit unsigned codes (same scale).
* **weights**: k-bit signed per matrix (``w_ih``, ``w_hh``) with a power-of-two scale: ``w_int``
  means ``w_int / 2^f`` with the largest ``f`` (``f <= 2k``) that keeps every ``|round(w 2^f)|`` at
  most ``2^(k-1) - 1``.
* **accumulator**: exact and wide.  A product x*w has ``(k-1) + f`` fractional bits; products of the
  two matrices are aligned to the finer one by a left shift (wiring), so a gate row's accumulator has
  ``F = (k-1) + max(f_ih, f_hh)`` fractional bits.  The bias (``b_ih + b_hh``, summed in float) is
  quantized once to the accumulator's scale.
* **requantize** ``acc -> k bits``: round half up by add-then-arithmetic-shift
  (``(v + 2^(s-1)) >> s``, i.e. ``floor(v / 2^s + 1/2)``; a negative shift is an exact left
  shift), then saturate to the k-bit range.  Every product that is narrowed is rounded this way.
* **pre-activation** (LUT input): k-bit signed Q(k-4), range [-8, 8).
* **LUTs**: 2^k entries, ``lut[u] = sat(floor(act(u / 2^f_in) 2^(k-1) + 1/2))`` in Q(k-1).
* **LSTM cell state** c: k-bit signed Q(k-3), range [-4, 4); tanh(c) has its own 2^k-entry LUT.

Per step (``>>r s`` = requantize by ``s`` bits with round half up + saturation to the named format):

LSTM::

    acc  = (x W_ih^T << a_ih) + (h W_hh^T << a_hh) + b         # F fractional bits, rows i f g o
    pre  = acc >>r (F - (k-4));   i f o = sigm(pre), g = tanh(pre)
    c    = ((f*c << 2) + i*g) >>r (k+1)                         # f*c: 2k-4 frac bits, i*g: 2k-2
    h    = (o * tanh_c(c)) >>r (k-1)

GRU (rows r z n; ``xn``, ``hn`` the n rows' input / hidden parts)::

    r, z = sigm(((x W_ih^T << a_ih) + (h W_hh^T << a_hh) + b) >>r (F - (k-4)))
    linear_before_reset=True:  xn = x W_in^T + b_in        (F_x = k-1+f_ih frac bits)
                               hn = (h W_hn^T + b_hn) >>r (F_h - (k-4))       (k-bit, Q(k-4))
                               n  = tanh((xn << .) + (r*hn << .)) >>r (. - (k-4)))   (aligned exactly)
    linear_before_reset=False: rh = (r*h) >>r (k-1);  n = tanh(((x W_in^T << a_ih) + (rh W_hn^T << a_hh)
                                                                 + b_in + b_hn) >>r (F - (k-4)))
    h = ((n << (k-1)) + z*(h - n)) >>r (k-1)                   # = (1-z) n + z h

Optional trailing Linear head (weight (out, H) k-bit at 2^-f_w, bias rounded once to the
accumulator scale 2^-((k-1) + f_w))::

    y = h W^T + b                                              # exact; not requantized

``y`` is the exact accumulator integer (``(k-1) + f_w`` fractional bits) per step.

Sequence-level head (a ``LastStep`` layer after the last recurrent layer, optionally followed by
the Linear head: PyTorch's ``fc(y[:, -1])`` / ``fc(h_n[-1])``): the recurrent layers run every
step as above; the LastStep keeps the last layer's h at step T - 1 (``(B, 1, H)``, the same
integers, nothing requantized) -- after a bidirectional layer its ``select`` may keep the
directions' final states instead (``cat(h_n[-2], h_n[-1])``, ``h_n[-2]``, ``h_n[-1]``; the rule
:func:`sccompiler.sim.rules.last_step_select`) -- and the head runs once per sequence on it, ``y``
``(B, 1, out)``.

Everything is int64, vectorized over the batch; :meth:`FixedPointModel.from_model` refuses formats
whose exact accumulators would not fit in 62 bits.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..errors import SCValueError, UnsupportedOpError
from ..ir.model import GRU, LSTM, LastStep, Linear, Model, direction_layers
from ..sim.rules import is_int, last_step_select, signed_width

#: integer bits (above the sign) of the pre-activation (LUT input) format: range [-8, 8)
PRE_INT_BITS = 3
#: integer bits (above the sign) of the LSTM cell state: range [-4, 4)
CELL_INT_BITS = 2
#: supported widths: k >= 4 keeps the pre-activation format's LSB <= 1; 2^16-entry LUTs at most
MIN_BITS, MAX_BITS = 4, 16
#: exact accumulation in int64 with headroom
MAX_ACC_BITS = 62
GATES = {"lstm": 4, "gru": 3}


def check_bits(bits) -> int:
    if not is_int(bits) or not MIN_BITS <= bits <= MAX_BITS:
        raise SCValueError("bits", f"must be an integer in {MIN_BITS}..{MAX_BITS}, got {bits!r}")
    return int(bits)


#: two's-complement width holding lo..hi: :func:`sccompiler.sim.rules.signed_width` (public name
#: kept: the fixed-point Verilog backend imports it)
sbits = signed_width


def round_shift(v: np.ndarray, shift: int) -> np.ndarray:
    """floor(v / 2^shift + 1/2) for shift > 0 (add then arithmetic shift); v << -shift otherwise."""
    v = np.asarray(v, dtype=np.int64)
    if shift > 0:
        return (v + (1 << (shift - 1))) >> shift
    return v << (-shift)


def saturate(v: np.ndarray, bits: int) -> np.ndarray:
    return np.clip(v, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def requantize(v: np.ndarray, shift: int, bits: int) -> np.ndarray:
    """Round half up by ``shift`` bits, then saturate to ``bits``-bit signed."""
    return saturate(round_shift(v, shift), bits)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def activation_lut(function: str, bits: int, in_frac: int) -> np.ndarray:
    """The 2^bits-entry table of ``function`` ("sigmoid" or "tanh"): entry ``u + 2^(bits-1)`` is the
    Q(bits-1) output for the signed input code ``u`` meaning ``u / 2^in_frac``."""
    k = check_bits(bits)
    codes = np.arange(-(1 << (k - 1)), 1 << (k - 1), dtype=np.int64)
    x = codes.astype(np.float64) * 2.0 ** (-in_frac)
    y = _sigmoid(x) if function == "sigmoid" else np.tanh(x) if function == "tanh" else None
    if y is None:
        raise SCValueError("function", f"must be 'sigmoid' or 'tanh', got {function!r}")
    return saturate(np.floor(y * 2.0 ** (k - 1) + 0.5).astype(np.int64), k)


@dataclass(frozen=True)
class Formats:
    """The fixed-point formats (fractional bits) shared by every layer of a model."""

    bits: int
    act_frac: int        # h, x, gate outputs: Q(k-1)
    pre_frac: int        # LUT input: Q(k-1-PRE_INT_BITS)
    cell_frac: int       # LSTM c: Q(k-1-CELL_INT_BITS)

    @classmethod
    def for_bits(cls, bits: int) -> "Formats":
        k = check_bits(bits)
        return cls(bits=k, act_frac=k - 1, pre_frac=k - 1 - PRE_INT_BITS, cell_frac=k - 1 - CELL_INT_BITS)

    @property
    def lo(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1

    def to_json(self) -> dict:
        return {"bits": self.bits, "act": f"Q{self.act_frac}", "pre_activation": f"Q{self.pre_frac}",
                "cell": f"Q{self.cell_frac}", "weights": "k-bit signed, per-matrix power-of-two scale",
                "rounding": "round half up (add 2^(s-1), arithmetic shift right s), then saturate"}


def _weight_frac(w: np.ndarray, bits: int, name: str) -> int:
    """Largest f <= 2k with max|round(w 2^f)| <= 2^(k-1) - 1 (a zero matrix gets 2k)."""
    hi = (1 << (bits - 1)) - 1
    m = float(np.max(np.abs(w))) if w.size else 0.0
    if m == 0.0:
        return 2 * bits
    f = min(2 * bits, math.floor(math.log2(hi / m)) + 1)
    while np.max(np.abs(np.floor(w * 2.0 ** f + 0.5))) > hi:
        f -= 1
    if f < -2 * bits:
        raise SCValueError(name, f"weights up to {m:g} are too large for a {bits}-bit fixed-point format")
    return f


def _quant_weights(w: np.ndarray, f: int) -> np.ndarray:
    return np.floor(w * 2.0 ** f + 0.5).astype(np.int64)


def _quant_bias(b: np.ndarray, frac: int, name: str) -> np.ndarray:
    v = np.floor(np.asarray(b, dtype=np.float64) * 2.0 ** frac + 0.5)
    if v.size and np.max(np.abs(v)) >= 2.0 ** (MAX_ACC_BITS - 2):
        raise SCValueError(name, f"bias too large for the exact accumulator at 2^-{frac}")
    return v.astype(np.int64)


@dataclass(frozen=True, eq=False)
class FixedPointLayer:
    """One recurrent layer in fixed point.

    ``w_ih`` (G H, I) and ``w_hh`` (G H, H) are k-bit integers meaning ``w / 2^f_ih`` and
    ``w / 2^f_hh``.  ``bias`` (G H,) is at the accumulator scale 2^-acc_frac, except for a GRU with
    ``linear_before_reset=True`` whose n rows hold b_in at 2^-(k-1+f_ih), and ``bias_hn`` (H,) holds
    b_hn at 2^-(k-1+f_hh) (``None`` otherwise).
    """

    name: str
    cell: str
    input_size: int
    hidden_size: int
    linear_before_reset: bool
    bits: int
    w_ih: np.ndarray
    w_hh: np.ndarray
    f_ih: int
    f_hh: int
    bias: np.ndarray
    bias_hn: np.ndarray | None = None
    #: "forward", or a bidirectional layer's "backward" direction (``NAME.reverse``, after its
    #: forward one): it runs on the forward one's input reversed in time and the layer's output is
    #: concat(forward h_t, backward h_t), as the SC design (docs/semantics.md)
    direction: str = "forward"

    @property
    def gates(self) -> int:
        return GATES[self.cell]

    @property
    def acc_frac(self) -> int:
        """Fractional bits of a gate row's accumulator: (k-1) + the finer weight scale."""
        return max(self.f_ih, self.f_hh) + (self.bits - 1)

    @property
    def shift_ih(self) -> int:
        """Left shift aligning x*w_ih products to the accumulator."""
        return max(self.f_ih, self.f_hh) - self.f_ih

    @property
    def shift_hh(self) -> int:
        return max(self.f_ih, self.f_hh) - self.f_hh


@dataclass(frozen=True, eq=False)
class FixedPointHead:
    """A trailing dense layer in fixed point: ``weight`` (out, in) k-bit integers meaning
    ``weight / 2^f_w``; ``bias`` (out,) at the accumulator scale 2^-acc_frac.  Its output is the
    exact accumulator ``h W^T + bias`` (no requantization)."""

    name: str
    in_size: int
    out_size: int
    bits: int
    weight: np.ndarray
    f_w: int
    bias: np.ndarray

    @property
    def acc_frac(self) -> int:
        """Fractional bits of the output: (k-1) (h) + f_w."""
        return self.f_w + (self.bits - 1)


@dataclass(frozen=True, eq=False)
class FixedPointModel:
    """A k-bit fixed-point LSTM/GRU stack (see the module docstring for every format)."""

    name: str
    input_size: int
    formats: Formats
    layers: tuple[FixedPointLayer, ...]
    sigmoid_lut: np.ndarray
    tanh_lut: np.ndarray
    tanh_c_lut: np.ndarray
    head: FixedPointHead | None = None
    #: name of the LastStep layer after the recurrent layers (None: every step is an output); the
    #: head then runs once per sequence on the last step's h
    last_step: str | None = None
    #: what the LastStep keeps (``LastStep.select``; after a bidirectional layer its directions'
    #: final states, :func:`sccompiler.sim.rules.last_step_select`)
    last_select: str = "last"

    @property
    def bits(self) -> int:
        return self.formats.bits

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_model(cls, model: Model, bits: int = 8) -> "FixedPointModel":
        """Quantize ``model`` (LSTM/GRU layers, optionally a LastStep, optionally one trailing
        Linear head; feature inputs, no batch norm) to ``bits``."""
        k = check_bits(bits)
        model.validate()
        if model.input.kind != "features":
            raise UnsupportedOpError("embedding", None, "the fixed-point baseline needs feature inputs")
        if not model.layers:
            raise UnsupportedOpError("model", model.name, "the model has no layers")
        fmt = Formats.for_bits(k)
        layers = []
        rec_layers, head_layer, last_step, last_select = list(model.layers), None, None, "last"
        if isinstance(rec_layers[-1], Linear) and len(rec_layers) > 1:
            head_layer = rec_layers.pop()
        if isinstance(rec_layers[-1], LastStep) and len(rec_layers) > 1:
            last_lay = rec_layers.pop()
            last_step, last_select = last_lay.name, last_lay.select
        after = [lay for i, lay in enumerate(rec_layers) if any(isinstance(p, LastStep) for p in rec_layers[:i])]
        if after:
            raise UnsupportedOpError(after[0].kind, after[0].name, "the fixed-point baseline runs one Linear head "
                                                                   "at most after a LastStep")
        for lay in rec_layers:
            if not isinstance(lay, (LSTM, GRU)):
                raise UnsupportedOpError(lay.kind, lay.name, "the fixed-point baseline supports LSTM/GRU layers, "
                                                             "then optionally a LastStep, then optionally one "
                                                             "Linear head only")
            bns = [f for f, _ in lay.batchnorms()]
            if bns:
                raise UnsupportedOpError("batchnorm", lay.name,
                                         f"the fixed-point baseline has no batch norm ({', '.join(bns)})")
            # a bidirectional layer: its forward, then its backward direction (direction_layers)
            for d, direction in zip(direction_layers(lay), ("forward", "backward")):
                layers.append(dataclasses.replace(_quantize_layer(d, fmt), direction=direction))
        sig = activation_lut("sigmoid", k, fmt.pre_frac)
        fpm = cls(name=model.name, input_size=model.input.size, formats=fmt, layers=tuple(layers),
                  sigmoid_lut=sig, tanh_lut=activation_lut("tanh", k, fmt.pre_frac),
                  tanh_c_lut=activation_lut("tanh", k, fmt.cell_frac),
                  head=None if head_layer is None else _quantize_head(head_layer, fmt), last_step=last_step,
                  last_select=last_select)
        if fpm.head is not None:
            lo, hi = fpm.head_range()
            if sbits(lo, hi) > MAX_ACC_BITS:
                raise SCValueError("weights", f"head {fpm.head.name!r}: the exact accumulator needs "
                                              f"{sbits(lo, hi)} bits (> {MAX_ACC_BITS})")
        for lay in fpm.layers:
            for what, (lo, hi) in fpm.accumulator_ranges(lay).items():
                if sbits(lo, hi) > MAX_ACC_BITS:
                    raise SCValueError("weights", f"layer {lay.name!r}: the exact {what} accumulator needs "
                                                  f"{sbits(lo, hi)} bits (> {MAX_ACC_BITS}): "
                                                  "weight scales too far apart")
        return fpm

    # ------------------------------------------------------------------ ranges (shared with the RTL)
    def bias_bits(self, lay: FixedPointLayer) -> int:
        """Width of a bias constant/register: the actual biases, and at least k bits above the
        pre-activation LSB (so a loadable design accepts any bias up to +-2^(PRE_INT_BITS+1))."""
        fmt = self.formats
        vals = [lay.bias] + ([lay.bias_hn] if lay.bias_hn is not None else [])
        lo = min(int(v.min()) for v in vals)
        hi = max(int(v.max()) for v in vals)
        floor_bits = (lay.acc_frac - fmt.pre_frac) + fmt.bits + 1
        return max(sbits(lo, hi), floor_bits, 2)

    def head_bias_bits(self) -> int:
        """Width of the head's bias constant/register (as :meth:`bias_bits`: at least k bits above
        the pre-activation LSB at the head's accumulator scale)."""
        hd = self.head
        if hd is None:
            raise SCValueError("head", "the model has no head")
        floor_bits = (hd.acc_frac - self.formats.pre_frac) + self.formats.bits + 1
        lo, hi = (int(hd.bias.min()), int(hd.bias.max())) if hd.bias.size else (0, 0)
        return max(sbits(lo, hi), floor_bits, 2)

    def head_range(self) -> tuple[int, int]:
        """Worst-case range of the head's output accumulator (any k-bit weights and h, any bias of
        :meth:`head_bias_bits`); the RTL's output width is ``sbits`` of it."""
        fmt = self.formats
        plo, phi = self.product_range(fmt.lo, fmt.hi, fmt.lo, fmt.hi)
        bb = self.head_bias_bits()
        n = self.head.in_size
        return n * plo - (1 << (bb - 1)), n * phi + (1 << (bb - 1)) - 1

    def head_bits(self) -> int:
        """Width of the head's output (signed): the worst-case accumulator."""
        return sbits(*self.head_range())

    def product_range(self, a_lo: int, a_hi: int, b_lo: int, b_hi: int) -> tuple[int, int]:
        c = [a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi]
        return min(c), max(c)

    def accumulator_ranges(self, lay: FixedPointLayer) -> dict[str, tuple[int, int]]:
        """Worst-case ranges (any k-bit weights and operands, any bias of ``bias_bits``) of the
        layer's wide sums: ``gate`` (combined rows), ``xn`` / ``hn`` (GRU n rows), ``n`` (GRU
        linear_before_reset's xn + r*hn)."""
        fmt = self.formats
        lo, hi = fmt.lo, fmt.hi
        plo, phi = self.product_range(lo, hi, lo, hi)
        bb = self.bias_bits(lay)
        blo, bhi = -(1 << (bb - 1)), (1 << (bb - 1)) - 1
        I, H = lay.input_size, lay.hidden_size
        sx, sh = 1 << lay.shift_ih, 1 << lay.shift_hh
        gate = (I * plo * sx + H * plo * sh + blo, I * phi * sx + H * phi * sh + bhi)
        out = {"gate": gate}
        if lay.cell == "gru" and lay.linear_before_reset:
            out["xn"] = (I * plo + blo, I * phi + bhi)
            out["hn"] = (H * plo + blo, H * phi + bhi)
            al_x, al_r = self.gru_n_align(lay)
            rlo, rhi = self.product_range(0, hi, lo, hi)       # r (sigmoid, >= 0) x hn (k-bit)
            out["n"] = (out["xn"][0] * (1 << al_x) + rlo * (1 << al_r), out["xn"][1] * (1 << al_x) + rhi * (1 << al_r))
        return out

    def gru_n_align(self, lay: FixedPointLayer) -> tuple[int, int]:
        """(shift of xn, shift of r*hn) aligning them for linear_before_reset=True."""
        fmt = self.formats
        fx = fmt.act_frac + lay.f_ih
        fr = fmt.act_frac + fmt.pre_frac
        f = max(fx, fr)
        return f - fx, f - fr

    # ------------------------------------------------------------------ inputs
    def quantize_input(self, x) -> np.ndarray:
        """Float inputs (B, T, I) -> k-bit Q(k-1) codes (round half up, saturate to [-1, 1))."""
        return quantize_activation(x, self.bits, self.input_size)

    def dequantize(self, v: np.ndarray, frac: int | None = None) -> np.ndarray:
        f = self.formats.act_frac if frac is None else frac
        return np.asarray(v, dtype=np.float64) / 2.0 ** f

    # ------------------------------------------------------------------ forward
    def forward(self, x_int) -> dict[str, dict[str, np.ndarray]]:
        """Exact integer forward pass.  ``x_int`` (B, T, I) Q(k-1) codes.  Returns
        ``{layer_name: {"h": (B, T, H)[, "c": (B, T, H)]}}`` (int64 codes: h in Q(k-1), c in
        Q(k-3)), in layer order; zero initial state.  A LastStep adds ``{last_step: {"h": (B, 1, H)}}``
        (the last layer's h at step T - 1, or a bidirectional layer's final states:
        ``last_select``).  A head adds ``{head_name: {"y": (B, T, out)}}`` (exact
        accumulator codes, ``head.acc_frac`` fractional bits; ``(B, 1, out)`` after a LastStep: once
        per sequence, on the last step's h)."""
        x = np.asarray(x_int)
        if x.ndim != 3 or x.shape[2] != self.input_size or x.shape[0] < 1 or x.shape[1] < 1:
            raise SCValueError("x_int", f"must have shape (batch, time, {self.input_size}), got {x.shape}")
        if x.dtype.kind not in "iu":
            raise SCValueError("x_int", f"must be integer codes, got dtype {x.dtype}")
        if x.min() < self.formats.lo or x.max() > self.formats.hi:
            raise SCValueError("x_int", f"codes must lie in [{self.formats.lo}, {self.formats.hi}]")
        out: dict[str, dict[str, np.ndarray]] = {}
        cur = x.astype(np.int64)
        seen = cur
        for lay in self.layers:
            if lay.direction == "backward":     # the forward direction's input, reversed in time
                res = self._lstm(lay, seen[:, ::-1]) if lay.cell == "lstm" else self._gru(lay, seen[:, ::-1])
                res = {k: v[:, ::-1] for k, v in res.items()}
                out[lay.name] = res
                cur = np.concatenate([cur, res["h"]], axis=-1)
                continue
            seen = cur
            res = self._lstm(lay, cur) if lay.cell == "lstm" else self._gru(lay, cur)
            out[lay.name] = res
            cur = res["h"]
        if self.last_step is not None:
            cur = last_step_select(cur, self.last_select)
            out[self.last_step] = {"h": cur}
        if self.head is not None:
            out[self.head.name] = {"y": cur @ self.head.weight.T + self.head.bias}
        return out

    def forward_float(self, x) -> np.ndarray:
        """Quantize float inputs, run, and return the model's output as floats: the head's y
        (B, T, out) when there is a head, else the last layer's h (B, T, H); (B, 1, .) after a
        LastStep."""
        res = self.forward(self.quantize_input(x))
        if self.head is not None:
            return self.dequantize(res[self.head.name]["y"], self.head.acc_frac)
        if self.last_step is not None:
            return self.dequantize(res[self.last_step]["h"])
        last = self.layers[-1]
        if last.direction == "backward":        # a bidirectional last layer: concat of both directions
            fwd = self.layers[-2]
            return self.dequantize(np.concatenate([res[fwd.name]["h"], res[last.name]["h"]], axis=-1))
        return self.dequantize(res[last.name]["h"])

    def _lut(self, table: np.ndarray, code: np.ndarray) -> np.ndarray:
        return table[code + (1 << (self.bits - 1))]

    def _pre(self, acc: np.ndarray, frac: int) -> np.ndarray:
        return requantize(acc, frac - self.formats.pre_frac, self.bits)

    def _gate_acc(self, lay: FixedPointLayer, x: np.ndarray, h: np.ndarray, rows: slice) -> np.ndarray:
        return ((x @ lay.w_ih[rows].T) << lay.shift_ih) + ((h @ lay.w_hh[rows].T) << lay.shift_hh) + lay.bias[rows]

    def _lstm(self, lay: FixedPointLayer, x: np.ndarray) -> dict[str, np.ndarray]:
        k, H = self.bits, lay.hidden_size
        fmt = self.formats
        B, T, _ = x.shape
        h = np.zeros((B, H), dtype=np.int64)
        c = np.zeros((B, H), dtype=np.int64)
        hs = np.empty((B, T, H), dtype=np.int64)
        cs = np.empty((B, T, H), dtype=np.int64)
        for t in range(T):
            pre = self._pre(self._gate_acc(lay, x[:, t], h, slice(None)), lay.acc_frac)
            i = self._lut(self.sigmoid_lut, pre[:, :H])
            f = self._lut(self.sigmoid_lut, pre[:, H:2 * H])
            g = self._lut(self.tanh_lut, pre[:, 2 * H:3 * H])
            o = self._lut(self.sigmoid_lut, pre[:, 3 * H:])
            # f*c has act+cell fractional bits, i*g 2*act: align f*c up by act - cell
            c = requantize((f * c << (fmt.act_frac - fmt.cell_frac)) + i * g,
                           2 * fmt.act_frac - fmt.cell_frac, k)
            h = requantize(o * self._lut(self.tanh_c_lut, c), fmt.act_frac, k)
            hs[:, t], cs[:, t] = h, c
        return {"h": hs, "c": cs}

    def _gru(self, lay: FixedPointLayer, x: np.ndarray) -> dict[str, np.ndarray]:
        k, H = self.bits, lay.hidden_size
        fmt = self.formats
        B, T, _ = x.shape
        h = np.zeros((B, H), dtype=np.int64)
        hs = np.empty((B, T, H), dtype=np.int64)
        n_rows = slice(2 * H, 3 * H)
        for t in range(T):
            xt = x[:, t]
            pre_rz = self._pre(self._gate_acc(lay, xt, h, slice(0, 2 * H)), lay.acc_frac)
            r = self._lut(self.sigmoid_lut, pre_rz[:, :H])
            z = self._lut(self.sigmoid_lut, pre_rz[:, H:])
            if lay.linear_before_reset:
                xn = xt @ lay.w_ih[n_rows].T + lay.bias[n_rows]                      # f_x = act + f_ih
                hn = self._pre(h @ lay.w_hh[n_rows].T + lay.bias_hn, fmt.act_frac + lay.f_hh)
                al_x, al_r = self.gru_n_align(lay)
                frac = fmt.act_frac + lay.f_ih + al_x
                n_pre = self._pre((xn << al_x) + ((r * hn) << al_r), frac)
            else:
                rh = requantize(r * h, fmt.act_frac, k)
                n_pre = self._pre(self._gate_acc(lay, xt, rh, n_rows), lay.acc_frac)
            n = self._lut(self.tanh_lut, n_pre)
            h = requantize((n << fmt.act_frac) + z * (h - n), fmt.act_frac, k)
            hs[:, t] = h
        return {"h": hs}


def quantize_activation(x, bits: int, size: int | None = None) -> np.ndarray:
    """Float (B, T, F) -> k-bit Q(k-1) integer codes; NaN/inf or a bad shape raise SCValueError."""
    k = check_bits(bits)
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SCValueError("x", f"cannot be read as a real array: {exc}") from None
    if arr.ndim != 3 or (size is not None and arr.shape[2] != size):
        raise SCValueError("x", f"must have shape (batch, time, {size if size is not None else 'features'}), "
                                f"got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise SCValueError("x", "inputs contain NaN/inf values")
    return saturate(np.floor(arr * 2.0 ** (k - 1) + 0.5).astype(np.int64), k)


def _quantize_layer(lay, fmt: Formats) -> FixedPointLayer:
    k = fmt.bits
    G = GATES[lay.kind]
    H = lay.hidden_size
    f_ih = _weight_frac(lay.w_ih.data, k, f"{lay.name}.w_ih")
    f_hh = _weight_frac(lay.w_hh.data, k, f"{lay.name}.w_hh")
    b_ih = np.zeros(G * H) if lay.b_ih is None else lay.b_ih.data
    b_hh = np.zeros(G * H) if lay.b_hh is None else lay.b_hh.data
    acc_frac = fmt.act_frac + max(f_ih, f_hh)
    lbr = bool(getattr(lay, "linear_before_reset", False))
    bias_hn = None
    if lay.kind == "gru" and lbr:
        n = slice(2 * H, 3 * H)
        bias = np.concatenate([_quant_bias(b_ih[:2 * H] + b_hh[:2 * H], acc_frac, f"{lay.name}.bias"),
                               _quant_bias(b_ih[n], fmt.act_frac + f_ih, f"{lay.name}.b_in")])
        bias_hn = _quant_bias(b_hh[n], fmt.act_frac + f_hh, f"{lay.name}.b_hn")
    else:
        bias = _quant_bias(b_ih + b_hh, acc_frac, f"{lay.name}.bias")
    return FixedPointLayer(name=lay.name, cell=lay.kind, input_size=lay.input_size, hidden_size=H,
                           linear_before_reset=lbr, bits=k, w_ih=_quant_weights(lay.w_ih.data, f_ih),
                           w_hh=_quant_weights(lay.w_hh.data, f_hh), f_ih=f_ih, f_hh=f_hh,
                           bias=bias, bias_hn=bias_hn)


def _quantize_head(lay: Linear, fmt: Formats) -> FixedPointHead:
    f_w = _weight_frac(lay.weight.data, fmt.bits, f"{lay.name}.weight")
    bias = np.zeros(lay.out_size) if lay.bias is None else lay.bias.data
    return FixedPointHead(name=lay.name, in_size=lay.in_size, out_size=lay.out_size, bits=fmt.bits,
                          weight=_quant_weights(lay.weight.data, f_w), f_w=f_w,
                          bias=_quant_bias(bias, fmt.act_frac + f_w, f"{lay.name}.bias"))
