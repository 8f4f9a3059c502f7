"""The k-bit fixed-point BASELINE as synthesizable Verilog, bit-exact with its integer model.

:func:`emit_fixed_point_design` turns a :class:`~sccompiler.quantize.fixed_point.FixedPointModel`
(or an IR model, quantized with ``bits``) into

* ``rtl/``: ``<top>.v`` and one file per activation LUT module (``<top>_sigmoid``, ``<top>_tanh``,
  ``<top>_tanh_c``: 2^k-entry ``case`` tables).  The architecture is the analytic
  :func:`~sccompiler.cost.baselines.fixed_point_design` (fully parallel): one k x k signed
  multiplier per weight, a balanced adder tree per gate row (+ bias), requantize, LUT, and a
  per-neuron cell update, with registered stages inside a time step:

  ====================  ===========================================================================
  LSTM (3 cycles/step)  0: products, trees, requantize -> pre-activation registers (4H x k)
                        1: LUTs -> i f o (k-1 bits each, sigmoid >= 0) and g (k bits) registers
                        2: c = f*c + i*g, h = o*tanh(c) -> c, h state registers
  GRU, lbr=True (4)     0: r z pre-activations, n's input sum xn (wide), n's hidden part hn (k bits)
                        1: r z LUTs; z register; n_pre = requantize(xn + r*hn) register
                        2: n = tanh LUT register;   3: h = n + z*(h - n) -> h state
  GRU, lbr=False (5)    0: r z pre-activations, xn (wide);  1: r z LUTs; z and rh = r*h registers
                        2: n_pre = requantize(xn + W_hn rh);  3: n LUT;  4: h update
  ====================  ===========================================================================

  An optional trailing Linear head is combinational from the last layer's h state register
  (products, adder tree, bias: the exact accumulator, no requantization) and drives
  ``o_<head>_y``; it adds no register and no cycle, and is valid with the last layer's h.

  All layers share one phase counter of S = max stages cycles; a layer writes its state in the
  last phase, and layer l + 1 runs one time step behind layer l (it reads layer l's h in phase
  0).  ``weights="wired"``: weights and biases are constants (Yosys folds the multipliers into
  shift-adds); ``weights="loadable"``: they live in one scan-chain register loaded k bits per
  cycle through ``w_load`` / ``w_in`` (the analytic model's "weights in registers").
* ``tb/``: ``<top>_tb.v`` with ``$readmemh`` vectors (inputs, and every layer's expected per-step h
  and c, and the head's y, from :meth:`FixedPointModel.forward`; loadable: the scan-chain words) and
  ``manifest.json`` in the format of :func:`.design.emit_design`, so
  :func:`.design.verify_design` and :func:`.design.synthesize_design` run on it unchanged;
* ``report.json``: the analytic ``fixed_point_design`` estimate, which ``synthesize_design`` puts
  next to Yosys's numbers in ``synth.json``.

Ports (as the SC top): ``clk rst start n_steps x_in busy done x_step valid out_step``,
``valid_<layer> out_step_<layer>`` for inner layers, ``o_<layer>_h`` (and ``o_<layer>_c``) packed
k bits per neuron, and with a head ``o_<head>_y`` packed ``FixedPointModel.head_bits()`` bits
(signed) per output.  Pulse ``start`` to run a sequence from zero state; hold ``x_in`` (feature j at
``[k j +: k]``, Q(k-1)) at the input of step ``x_step`` while busy; ``valid_<layer>`` marks the
cycle where that layer's ``o_*`` hold step ``out_step_<layer>``; ``done`` rises the cycle after the
last layer's last step.  A sequence of T steps takes (T + layers - 1) x S cycles.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError, OutputExistsError, SCValueError
from ...quantize.fixed_point import FixedPointLayer, FixedPointModel, quantize_activation, sbits
from .design import MAX_REPORTED, STEP_BITS, testbench_ending, testbench_vectors   # the SC top's protocol

#: cycles per time step by cell (registered stages, table in the module docstring)
STAGES = {"lstm": 3, "gru": 5, "gru_lbr": 4}
#: largest k whose 2^k-entry LUTs are emitted (a case table of 4096 lines per LUT module)
MAX_EMIT_BITS = 12
WEIGHT_MODES = ("wired", "loadable")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _ident(name: str) -> str:
    out = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return out if _IDENT.match(out) else f"l_{out}"


def stages(lay: FixedPointLayer) -> int:
    """Registered stages (cycles) of one time step of ``lay``."""
    if lay.cell == "lstm":
        return STAGES["lstm"]
    return STAGES["gru_lbr"] if lay.linear_before_reset else STAGES["gru"]


@dataclass(frozen=True)
class _Val:
    """A signal: Verilog expression ``expr`` of ``width`` bits (a plain name, a ``name[hi:lo]``
    slice or a sized constant) holding a value in lo..hi, meant shifted left by ``shift`` (wiring).
    Two's complement, except an *unsigned* value (lo >= 0 whose top bit can be 1: sigmoid codes)."""

    expr: str
    width: int
    lo: int
    hi: int
    shift: int = 0

    @property
    def total(self) -> int:
        return self.width + self.shift

    @property
    def unsigned(self) -> bool:
        return self.lo >= 0 and self.hi >= (1 << (self.width - 1))


_SLICE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\[(\d+)(?::\d+)?\]$")


def _top_bit(v: _Val) -> str:
    if _IDENT.match(v.expr):
        return v.expr if v.width == 1 else f"{v.expr}[{v.width - 1}]"
    m = _SLICE.match(v.expr)
    if m is None:
        raise SCValueError("expr", f"internal: cannot take the sign bit of {v.expr!r}")
    return f"{m.group(1)}[{m.group(2)}]"


def _ext(v: _Val, to: int) -> str:
    """``v << v.shift`` extended (sign, or zero when unsigned) to ``to`` bits: a concatenation."""
    body = v.expr if v.shift == 0 else f"{{{v.expr}, {v.shift}'b0}}"
    if to < v.total:
        raise SCValueError("width", f"internal: cannot extend {v.total} bits to {to}")
    if to == v.total:
        return body
    fill = "1'b0" if v.unsigned else _top_bit(v)
    return f"{{{{{to - v.total}{{{fill}}}}}, {body}}}"


class _Emitter:
    def __init__(self, fpm: FixedPointModel, top: str, weights: str) -> None:
        self.m = fpm
        self.k = fpm.bits
        self.top = top
        self.loadable = weights == "loadable"
        self.decl: list[str] = []
        self.body: list[str] = []
        self.regs: dict[str, int] = {}            # register name -> bits (pipeline + state)
        self.chain: list[tuple[str, int, int]] = []   # scan-chain fields: (name, width, value)
        self.chain_bits = 0
        self.S = max(stages(lay) for lay in fpm.layers)
        self.phase_bits = max(1, (self.S - 1).bit_length())
        self.n_wires = 0

    # ------------------------------------------------------------------ helpers
    def wire(self, name: str, width: int, expr: str, unused_low: str = "") -> _Val:
        waive = bool(unused_low)
        pre = "/* verilator lint_off UNUSEDSIGNAL */ " if waive else ""
        post = f" /* verilator lint_on UNUSEDSIGNAL */   // {unused_low}" if waive else ""
        self.decl.append(f"    {pre}wire [{width - 1}:0] {name} = {expr};{post}")
        return _Val(name, width, 0, 0)

    def val(self, name: str, width: int, expr: str, lo: int, hi: int, unused: str = "") -> _Val:
        w = self.wire(name, width, expr, unused)
        return _Val(w.expr, width, lo, hi)

    def reg(self, name: str, width: int) -> str:
        self.decl.append(f"    reg  [{width - 1}:0] {name};")
        self.regs[name] = width
        return name

    def const_or_chain(self, name: str, value: int, width: int) -> str:
        """A weight/bias operand: a sized constant (wired) or a scan-chain slice (loadable)."""
        if not self.loadable:
            return f"{width}'h{int(value) & ((1 << width) - 1):x}"
        off = self.chain_bits
        self.chain.append((name, width, int(value)))
        self.chain_bits += width
        return f"wchain[{off + width - 1}:{off}]" if width > 1 else f"wchain[{off}]"

    def materialize(self, name: str, v: _Val, unused: str = "") -> _Val:
        """A named wire holding ``v << v.shift`` (sign-extension and slicing then work on it)."""
        if v.shift == 0 and _IDENT.match(v.expr) and not unused:
            return v
        return self.val(name, v.total, _ext(v, v.total), v.lo, v.hi, unused)

    def signed_val(self, expr: str, width: int) -> _Val:
        return _Val(expr, width, -(1 << (width - 1)), (1 << (width - 1)) - 1)

    def unsigned_val(self, expr: str, width: int) -> _Val:
        return _Val(expr, width, 0, (1 << width) - 1)

    def mul(self, name: str, a: _Val, b: _Val) -> _Val:
        """Signed product; an unsigned operand gets a 0 sign bit (``a`` / ``b`` lo >= 0 with no
        sign bit of their own are passed as unsigned_val)."""
        c = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
        lo, hi = min(c), max(c)
        w = sbits(lo, hi)
        ea = f"$signed({{1'b0, {a.expr}}})" if a.lo >= 0 and a.hi >= (1 << (a.width - 1)) else f"$signed({a.expr})"
        eb = f"$signed({{1'b0, {b.expr}}})" if b.lo >= 0 and b.hi >= (1 << (b.width - 1)) else f"$signed({b.expr})"
        self.decl.append(f"    wire signed [{w - 1}:0] {name} = {ea} * {eb};")
        return _Val(name, w, lo, hi)

    def add(self, name: str, a: _Val, b: _Val, sub: bool = False) -> _Val:
        lo, hi = (a.lo - b.hi, a.hi - b.lo) if sub else (a.lo + b.lo, a.hi + b.hi)
        w = max(sbits(lo, hi), a.total + (a.unsigned or b.unsigned), b.total + (a.unsigned or b.unsigned))
        return self.val(name, w, f"{_ext(a, w)} {'-' if sub else '+'} {_ext(b, w)}", lo, hi)

    def shifted(self, v: _Val, shift: int) -> _Val:
        """``v << shift`` as a value (concatenation, no logic)."""
        if shift == 0:
            return v
        return _Val(v.expr, v.width, v.lo << shift, v.hi << shift, v.shift + shift)

    def tree(self, name: str, terms: list[_Val]) -> _Val:
        """Balanced adder tree (level by level, widths from the operand ranges)."""
        level, lv = list(terms), 0
        while len(level) > 1:
            nxt = []
            for j in range(0, len(level) - 1, 2):
                nxt.append(self.add(f"{name}_t{lv}_{j // 2}", level[j], level[j + 1]))
            if len(level) % 2:
                nxt.append(level[-1])          # an odd operand passes up
            level, lv = nxt, lv + 1
        return level[0]

    def requant(self, name: str, v: _Val, shift: int, bits: int) -> _Val:
        """Round half up by ``shift`` bits (add-then-shift = high part + bit shift-1), saturate to
        ``bits``-bit signed; a shift <= 0 is an exact left shift."""
        v = self.materialize(f"{name}_a", v, f"bits below {shift - 1} are dropped by the rounding shift"
                             if shift > 1 else "")
        if shift > 0:
            lo, hi = (v.lo + (1 << (shift - 1))) >> shift, (v.hi + (1 << (shift - 1))) >> shift
            wq = v.width - shift + 1
            src = v
            hi_part = f"{{{src.expr}[{v.width - 1}], {src.expr}[{v.width - 1}:{shift}]}}"
            rnd = f"{{{wq - 1}'d0, {src.expr}[{shift - 1}]}}"
            expr = f"{hi_part} + {rnd}"
        else:
            lo, hi = v.lo << -shift, v.hi << -shift
            wq = v.width - shift
            expr = v.expr if shift == 0 else f"{{{v.expr}, {-shift}'b0}}"
        fits = -(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1
        if wq <= bits:
            q = self.val(f"{name}_q", wq, expr, lo, hi)
            return self.val(name, bits, _ext(q, bits), lo, hi)
        if fits:     # the range fits: the high bits are copies of the sign
            q = self.val(f"{name}_q", wq, expr, lo, hi, "high bits are sign copies (range fits)")
            return self.val(name, bits, f"{q.expr}[{bits - 1}:0]", lo, hi)
        q = self.val(f"{name}_q", wq, expr, lo, hi)
        top = f"{q.expr}[{wq - 1}:{bits - 1}]"
        ok = self.val(f"{name}_ok", 1, f"(&{top}) | ~(|{top})", 0, 1)      # no overflow: all equal
        sat = f"{{{q.expr}[{wq - 1}], {{{bits - 1}{{~{q.expr}[{wq - 1}]}}}}}}"
        lo_c, hi_c = max(lo, -(1 << (bits - 1))), min(hi, (1 << (bits - 1)) - 1)
        return self.val(name, bits, f"{ok.expr} ? {q.expr}[{bits - 1}:0] : {sat}", lo_c, hi_c)

    def lut(self, kind: str, inst: str, a: str) -> _Val:
        k = self.k
        ow = k - 1 if kind == "sigmoid" else k
        out = f"{inst}_y"
        self.decl.append(f"    wire [{ow - 1}:0] {out};")
        self.body.append(f"    {self.top}_{kind} {inst} (.a({a}), .y({out}));")
        if kind == "sigmoid":
            return _Val(out, ow, 0, (1 << (k - 1)) - 1)
        return self.signed_val(out, k)

    @staticmethod
    def sl(vec: str, j: int, w: int) -> str:
        return f"{vec}[{j * w + w - 1}:{j * w}]" if w > 1 else f"{vec}[{j}]"

    def comment(self, text: str) -> None:
        self.decl.append(f"    // {text}")

    # ------------------------------------------------------------------ layers
    def gate_row(self, p: str, lay: FixedPointLayer, r: int, xs: list[_Val], hs: list[_Val] | None,
                 bias: int | None, shift_x: int, shift_h: int, use_h_rows: bool = True) -> _Val:
        """Exact wide sum of row r: sum x_j w_ih[r, j] << shift_x (+ h part) (+ bias)."""
        k = self.k
        terms = []
        for j, xv in enumerate(xs):
            w = self.signed_val(self.const_or_chain(f"{lay.name}.w_ih[{r}][{j}]", lay.w_ih[r, j], k), k)
            terms.append(self.shifted(self.mul(f"{p}_px_{r}_{j}", xv, w), shift_x))
        if hs is not None and use_h_rows:
            for j, hv in enumerate(hs):
                w = self.signed_val(self.const_or_chain(f"{lay.name}.w_hh[{r}][{j}]", lay.w_hh[r, j], k), k)
                terms.append(self.shifted(self.mul(f"{p}_ph_{r}_{j}", hv, w), shift_h))
        if bias is not None:
            bb = self.m.bias_bits(lay)
            b = self.const_or_chain(f"{lay.name}.bias[{r}]", bias, bb)
            terms.append(self.val(f"{p}_b_{r}", bb, b, -(1 << (bb - 1)), (1 << (bb - 1)) - 1))
        return self.tree(f"{p}_acc_{r}", terms)

    def hn_row(self, p: str, lay: FixedPointLayer, u: int, hs: list[_Val]) -> _Val:
        k, H = self.k, lay.hidden_size
        r = 2 * H + u
        terms = []
        for j, hv in enumerate(hs):
            w = self.signed_val(self.const_or_chain(f"{lay.name}.w_hh[{r}][{j}]", lay.w_hh[r, j], k), k)
            terms.append(self.mul(f"{p}_ph_{r}_{j}", hv, w))
        bb = self.m.bias_bits(lay)
        b = self.const_or_chain(f"{lay.name}.bias_hn[{u}]", lay.bias_hn[u], bb)
        terms.append(self.val(f"{p}_bhn_{u}", bb, b, -(1 << (bb - 1)), (1 << (bb - 1)) - 1))
        return self.tree(f"{p}_hacc_{u}", terms)

    def pipe(self, name: str, phase: int, vals: list[_Val]) -> list[_Val]:
        """A register (packed vector) loaded with ``vals`` in ``phase``; returns its slices."""
        vals = [self.materialize(f"{name}_in{j}", v) if v.shift else v for j, v in enumerate(vals)]
        w = vals[0].width
        total = w * len(vals)
        self.reg(name, total)
        cat = ", ".join(v.expr for v in reversed(vals))
        self.body.append(f"    always @(posedge clk) if (phase == {self.phase_bits}'d{phase}) {name} <= {{{cat}}};")
        return [_Val(self.sl(name, j, w), w, vals[j].lo, vals[j].hi) for j in range(len(vals))]

    def layer(self, li: int, lay: FixedPointLayer, xs: list[_Val]) -> list[_Val]:
        """Emit one layer; returns its h register slices."""
        k, H, fmt = self.k, lay.hidden_size, self.m.formats
        p = _ident(lay.name)
        last = self.S - 1
        self.comment(f"===== layer {lay.name} ({lay.cell}{'' if lay.cell == 'lstm' else ', linear_before_reset=' + str(lay.linear_before_reset)}): "
                     f"{lay.input_size} -> {H}, weights Q{lay.f_ih} (w_ih) / Q{lay.f_hh} (w_hh), accumulator Q{lay.acc_frac}")
        h_reg = self.reg(f"{p}_h", H * k)
        hs = [self.signed_val(self.sl(h_reg, u, k), k) for u in range(H)]
        we = f"{p}_we"
        started = f"(mstep >= {STEP_BITS}'d{li}) && " if li else ""
        self.decl.append(f"    wire {p}_active = {started}({{1'b0, mstep}} < {{1'b0, steps}} + {STEP_BITS + 1}'d{li});")
        self.decl.append(f"    wire {we} = busy_r && (phase == {self.phase_bits}'d{last}) && {p}_active;")
        pre_shift = lay.acc_frac - fmt.pre_frac
        sx, sh = lay.shift_ih, lay.shift_hh
        state_regs = [(h_reg, None)]
        if lay.cell == "lstm":
            c_reg = self.reg(f"{p}_c", H * k)
            cs = [self.signed_val(self.sl(c_reg, u, k), k) for u in range(H)]
            self.comment(f"{lay.name} phase 0: 4H gate rows (i f g o): products, adder tree, bias, requantize to Q{fmt.pre_frac}")
            pre = [self.requant(f"{p}_pre_{r}", self.gate_row(p, lay, r, xs, hs, int(lay.bias[r]), sx, sh), pre_shift, k)
                   for r in range(4 * H)]
            preq = self.pipe(f"{p}_pre_r", 0, pre)
            self.comment(f"{lay.name} phase 1: activation LUTs")
            acts = {}
            for gi, g in enumerate("ifgo"):
                kind = "tanh" if g == "g" else "sigmoid"
                vals = [self.lut(kind, f"{p}_lut_{g}_{u}", preq[gi * H + u].expr) for u in range(H)]
                acts[g] = self.pipe(f"{p}_{g}_r", 1, vals)
            self.comment(f"{lay.name} phase {last}: c = f*c + i*g (Q{fmt.cell_frac}), h = o*tanh(c) (Q{fmt.act_frac})")
            c_new, h_new = [], []
            for u in range(H):
                fc = self.mul(f"{p}_fc_{u}", acts["f"][u], cs[u])
                ig = self.mul(f"{p}_ig_{u}", acts["i"][u], acts["g"][u])
                s = self.add(f"{p}_cs_{u}", self.shifted(fc, fmt.act_frac - fmt.cell_frac), ig)
                cn = self.requant(f"{p}_cn_{u}", s, 2 * fmt.act_frac - fmt.cell_frac, k)
                tc = self.lut("tanh_c", f"{p}_lut_tc_{u}", cn.expr)
                hn = self.requant(f"{p}_hn_{u}", self.mul(f"{p}_oh_{u}", acts["o"][u], tc), fmt.act_frac, k)
                c_new.append(cn)
                h_new.append(hn)
            state_regs = [(h_reg, h_new), (c_reg, c_new)]
        else:
            self.comment(f"{lay.name} phase 0: r z rows (products, adder tree, bias, requantize to Q{fmt.pre_frac}) "
                         "and the n rows' parts")
            pre = [self.requant(f"{p}_pre_{r}", self.gate_row(p, lay, r, xs, hs, int(lay.bias[r]), sx, sh), pre_shift, k)
                   for r in range(2 * H)]
            preq = self.pipe(f"{p}_pre_r", 0, pre)
            if lay.linear_before_reset:
                xn = [self.gate_row(p, lay, 2 * H + u, xs, None, int(lay.bias[2 * H + u]), 0, 0) for u in range(H)]
                xn = [self._widen(v, max(x.total for x in xn)) for v in xn]
                xnq = self.pipe(f"{p}_xn_r", 0, xn)
                hn_shift = fmt.act_frac + lay.f_hh - fmt.pre_frac
                hnv = [self.requant(f"{p}_hnq_{u}", self.hn_row(p, lay, u, hs), hn_shift, k) for u in range(H)]
                hnq = self.pipe(f"{p}_hn_r", 0, hnv)
                self.comment(f"{lay.name} phase 1: r z LUTs; n_pre = requantize(xn + r*hn)")
                r = [self.lut("sigmoid", f"{p}_lut_r_{u}", preq[u].expr) for u in range(H)]
                z = [self.lut("sigmoid", f"{p}_lut_z_{u}", preq[H + u].expr) for u in range(H)]
                zq = self.pipe(f"{p}_z_r", 1, z)
                al_x, al_r = self.m.gru_n_align(lay)
                frac = fmt.act_frac + lay.f_ih + al_x
                npre = []
                for u in range(H):
                    rh = self.mul(f"{p}_rhn_{u}", r[u], hnq[u])
                    s = self.add(f"{p}_ns_{u}", self.shifted(xnq[u], al_x), self.shifted(rh, al_r))
                    npre.append(self.requant(f"{p}_npre_{u}", s, frac - fmt.pre_frac, k))
                nq_phase = 2
            else:
                xn = [self.gate_row(p, lay, 2 * H + u, xs, None, int(lay.bias[2 * H + u]), sx, 0) for u in range(H)]
                xn = [self._widen(v, max(x.total for x in xn)) for v in xn]
                xnq = self.pipe(f"{p}_xn_r", 0, xn)
                self.comment(f"{lay.name} phase 1: r z LUTs; rh = requantize(r*h)")
                r = [self.lut("sigmoid", f"{p}_lut_r_{u}", preq[u].expr) for u in range(H)]
                z = [self.lut("sigmoid", f"{p}_lut_z_{u}", preq[H + u].expr) for u in range(H)]
                zq = self.pipe(f"{p}_z_r", 1, z)
                rhv = [self.requant(f"{p}_rh_{u}", self.mul(f"{p}_rhm_{u}", r[u], hs[u]), fmt.act_frac, k)
                       for u in range(H)]
                rhq = self.pipe(f"{p}_rh_r", 1, rhv)
                self.comment(f"{lay.name} phase 2: n_pre = requantize(xn + W_hn rh)")
                npre = []
                for u in range(H):
                    rr = 2 * H + u
                    terms = [xnq[u]]
                    for j, hv in enumerate(rhq):
                        w = self.signed_val(self.const_or_chain(f"{lay.name}.w_hh[{rr}][{j}]", lay.w_hh[rr, j], k), k)
                        terms.append(self.shifted(self.mul(f"{p}_pr_{rr}_{j}", hv, w), sh))
                    npre.append(self.requant(f"{p}_npre_{u}", self.tree(f"{p}_nacc_{u}", terms), pre_shift, k))
                nq_phase = 3
            npq = self.pipe(f"{p}_npre_r", nq_phase - 1, npre)
            self.comment(f"{lay.name} phase {nq_phase}: n = tanh LUT")
            nv = [self.lut("tanh", f"{p}_lut_n_{u}", npq[u].expr) for u in range(H)]
            nq = self.pipe(f"{p}_n_r", nq_phase, nv)
            self.comment(f"{lay.name} phase {last}: h = n + z*(h - n)  (= (1-z) n + z h)")
            h_new = []
            for u in range(H):
                d = self.add(f"{p}_hd_{u}", hs[u], nq[u], sub=True)
                zd = self.mul(f"{p}_zd_{u}", zq[u], d)
                s = self.add(f"{p}_hs_{u}", self.shifted(nq[u], fmt.act_frac), zd)
                h_new.append(self.requant(f"{p}_hnew_{u}", s, fmt.act_frac, k))
            state_regs = [(h_reg, h_new)]
        self.body.append("    always @(posedge clk) begin")
        self.body.append("        if (rst || start) begin")
        for name, _ in state_regs:
            self.body.append(f"            {name} <= {self.regs[name]}'d0;")
        self.body.append(f"        end else if ({we}) begin")
        for name, vals in state_regs:
            self.body.append(f"            {name} <= {{{', '.join(v.expr for v in reversed(vals))}}};")
        self.body.append("        end")
        self.body.append("    end")
        self.body.append(f"    always @(posedge clk) {p}_wrote <= !(rst || start) && {we};")
        self.state_outputs.append((p, lay, [name for name, _ in state_regs]))
        return hs

    def _widen(self, v: _Val, width: int) -> _Val:
        """``v`` sign-extended to ``width`` bits (an expression for a register's concatenation)."""
        if v.total == width and v.shift == 0:
            return v
        return _Val(_ext(v, width), width, v.lo, v.hi)

    # ------------------------------------------------------------------ top
    def run(self) -> None:
        k, I = self.k, self.m.input_size
        self.state_outputs: list[tuple[str, FixedPointLayer, list[str]]] = []
        self.head_output: tuple[str, int] | None = None      # (head ident, output width)
        xs = [self.signed_val(self.sl("x_in", j, k), k) for j in range(I)]
        for li, lay in enumerate(self.m.layers):
            xs = self.layer(li, lay, xs)
        if self.m.head is not None:
            self.head(xs)

    def head(self, hs: list[_Val]) -> None:
        """The Linear head, combinational from the last layer's h register: y = W h + b exact."""
        hd, k = self.m.head, self.k
        p = _ident(hd.name)
        yw, bb = self.m.head_bits(), self.m.head_bias_bits()
        self.comment(f"===== head {hd.name} (linear {hd.in_size} -> {hd.out_size}, weights Q{hd.f_w}): combinational "
                     f"from the h register, exact accumulator Q{hd.acc_frac}, {yw} bits signed per output")
        ys = []
        for o in range(hd.out_size):
            terms = []
            for j, hv in enumerate(hs):
                w = self.signed_val(self.const_or_chain(f"{hd.name}.weight[{o}][{j}]", hd.weight[o, j], k), k)
                terms.append(self.mul(f"{p}_ypx_{o}_{j}", hv, w))
            b = self.const_or_chain(f"{hd.name}.bias[{o}]", int(hd.bias[o]), bb)
            terms.append(self.val(f"{p}_yb_{o}", bb, b, -(1 << (bb - 1)), (1 << (bb - 1)) - 1))
            ys.append(self._widen(self.tree(f"{p}_yacc_{o}", terms), yw))
        self.decl.append(f"    wire [{hd.out_size * yw - 1}:0] {p}_y = {{{', '.join(v.expr for v in reversed(ys))}}};")
        self.head_output = (p, yw)

    def top_text(self) -> str:
        k, I, S, pw = self.k, self.m.input_size, self.S, self.phase_bits
        nl = len(self.m.layers)
        names = [p for p, _, _ in self.state_outputs]
        last = names[-1]
        ports = ["    input  wire clk,", "    input  wire rst,", "    input  wire start,",
                 f"    input  wire [{STEP_BITS - 1}:0] n_steps,",
                 f"    input  wire [{I * k - 1}:0] x_in,   // feature j: Q{k - 1} at [{k}j +: {k}]"]
        if self.loadable:
            ports += ["    input  wire w_load,   // shift w_in into the weight scan chain",
                      f"    input  wire [{k - 1}:0] w_in,"]
        ports += ["    output wire busy,", "    output wire done,", f"    output wire [{STEP_BITS - 1}:0] x_step,",
                  "    output wire valid,", f"    output wire [{STEP_BITS - 1}:0] out_step,"]
        for p in names[:-1]:
            ports += [f"    output wire valid_{p},", f"    output wire [{STEP_BITS - 1}:0] out_step_{p},"]
        outs = []
        for p, lay, regs in self.state_outputs:
            for reg_name in regs:
                outs.append(f"    output wire [{lay.hidden_size * k - 1}:0] o_{reg_name}")
        if self.head_output is not None:
            hp, yw = self.head_output
            outs.append(f"    output wire [{self.m.head.out_size * yw - 1}:0] o_{hp}_y   // head: {yw}-bit signed "
                        f"Q{self.m.head.acc_frac} per output, valid with valid")
        ports.append(",\n".join(outs))
        fmt = self.m.formats
        head = [
            f"// {self.top}: {k}-bit fixed-point baseline of '{self.m.name}', generated by",
            "// sccompiler.backends.verilog.fixed_point (bit-exact with sccompiler.quantize.fixed_point).",
            f"// Formats: x/h/gates Q{fmt.act_frac}, pre-activations Q{fmt.pre_frac}, LSTM c Q{fmt.cell_frac}; "
            f"weights {'wired constants' if not self.loadable else 'in a scan chain (w_load / w_in)'}.",
            f"// {S} cycles per time step (phase 0..{S - 1}); layer l runs one step behind layer l-1.",
            "// Synthesizable Verilog-2005; protocol as the SC top (docs/fixed-point-baseline.md).",
            f"module {self.top} (", *ports, ");"]
        S1 = STEP_BITS + 1
        ctl = [f"    reg  {p}_wrote;   // {p} wrote its state at the previous edge (its valid)" for p in names]
        self.regs.update({f"{p}_wrote": 1 for p in names})
        ctl += [
            "    // control: phase counts the cycles of a time step; mstep counts macro steps (layer l works on",
            "    // step mstep - l); the run ends after n_steps + layers - 1 macro steps",
            f"    reg  [{pw - 1}:0] phase;",
            f"    reg  [{STEP_BITS - 1}:0] mstep;",
            f"    reg  [{STEP_BITS - 1}:0] steps;",
            "    reg  busy_r, done_r;",
            f"    wire step_end = busy_r && (phase == {pw}'d{S - 1});",
            f"    wire run_end = step_end && ({{1'b0, mstep}} + {S1}'d1 == {{1'b0, steps}} + {S1}'d{nl - 1});",
            "    always @(posedge clk) begin",
            "        if (rst) begin",
            f"            busy_r <= 1'b0; done_r <= 1'b0; phase <= {pw}'d0; mstep <= {STEP_BITS}'d0; steps <= {STEP_BITS}'d0;",
            "        end else if (start) begin",
            f"            busy_r <= (n_steps != {STEP_BITS}'d0); done_r <= 1'b0; phase <= {pw}'d0; mstep <= {STEP_BITS}'d0;",
            "            steps <= n_steps;",
            "        end else begin",
            f"            if ({last}_wrote && !busy_r) done_r <= 1'b1;   // the cycle after the last step's valid",
            "            if (step_end) begin",
            f"                phase <= {pw}'d0;",
            f"                mstep <= mstep + {STEP_BITS}'d1;",
            "                if (run_end) busy_r <= 1'b0;",
            "            end else if (busy_r) begin",
            f"                phase <= phase + {pw}'d1;",
            "            end",
            "        end",
            "    end",
        ]
        for name, w in (("phase", pw), ("mstep", STEP_BITS), ("steps", STEP_BITS), ("busy_r", 1), ("done_r", 1)):
            self.regs[name] = w
        if self.loadable:
            n = self.chain_words() * k
            ctl += [
                f"    // weight scan chain: {self.chain_bits} bits of weights and biases ({self.chain_words()} words of {k} bits, the",
                "    // first word shifted in ends at the top; the pad bits above the fields are never read)",
                f"    /* verilator lint_off UNUSEDSIGNAL */ reg  [{n - 1}:0] wchain; /* verilator lint_on UNUSEDSIGNAL */",
                ("    always @(posedge clk) if (w_load) wchain <= w_in;" if n == k else
                 f"    always @(posedge clk) if (w_load) wchain <= {{wchain[{n - k - 1}:0], w_in}};"),
            ]
            self.regs["wchain"] = self.chain_bits      # Yosys removes the unread pad bits
        assigns = ["    assign busy = busy_r;", "    assign done = done_r;", "    assign x_step = mstep;",
                   f"    assign valid = {last}_wrote;",
                   f"    assign out_step = mstep - {STEP_BITS}'d{nl};"]
        for li, p in enumerate(names[:-1]):
            assigns += [f"    assign valid_{p} = {p}_wrote;", f"    assign out_step_{p} = mstep - {STEP_BITS}'d{li + 1};"]
        for p, lay, regs in self.state_outputs:
            assigns += [f"    assign o_{r} = {r};" for r in regs]
        if self.head_output is not None:
            assigns.append(f"    assign o_{self.head_output[0]}_y = {self.head_output[0]}_y;")
        return "\n".join(head + ctl + self.decl + self.body + assigns + ["endmodule", ""])

    def chain_words(self) -> int:
        return max(1, -(-self.chain_bits // self.k))

    def chain_hex(self) -> list[str]:
        """The scan-chain words in shift order (first word ends at the top of the chain)."""
        k, n = self.k, self.chain_words()
        v, off = 0, 0
        for _, w, val in self.chain:
            v |= (val & ((1 << w) - 1)) << off
            off += w
        return [f"{(v >> ((n - 1 - i) * k)) & ((1 << k) - 1):x}" for i in range(n)]


def lut_module(top: str, kind: str, table: np.ndarray, bits: int) -> str:
    """A 2^k-entry activation table as a combinational case (the most frequent entry is the default)."""
    k = bits
    ow = k - 1 if kind == "sigmoid" else k
    vals = [int(table[(u + (1 << (k - 1)))]) & ((1 << ow) - 1) for u in
            [c - (1 << k) if c >= (1 << (k - 1)) else c for c in range(1 << k)]]
    freq: dict[int, int] = {}
    for v in vals:
        freq[v] = freq.get(v, 0) + 1
    default = max(freq, key=lambda v: (freq[v], -v))
    what = {"sigmoid": "sigmoid(pre-activation), k-1-bit unsigned Q%d (never negative)" % (k - 1),
            "tanh": "tanh(pre-activation), k-bit signed Q%d" % (k - 1),
            "tanh_c": "tanh(cell state), k-bit signed Q%d" % (k - 1)}[kind]
    lines = [f"// {top}_{kind}: {1 << k}-entry LUT, a = two's-complement input code; y = {what}.",
             "// Generated by sccompiler.backends.verilog.fixed_point from sccompiler.quantize.fixed_point.",
             f"module {top}_{kind} (", f"    input  wire [{k - 1}:0] a,", f"    output reg  [{ow - 1}:0] y", ");",
             "    always @(*) begin", "        case (a)"]
    lines += [f"            {k}'h{c:x}: y = {ow}'d{v};" for c, v in enumerate(vals) if v != default]
    lines += [f"            default: y = {ow}'d{default};", "        endcase", "    end", "endmodule", ""]
    return "\n".join(lines)


def _as_fixed(model_or_fixed, bits: int | None) -> FixedPointModel:
    if isinstance(model_or_fixed, FixedPointModel):
        if bits is not None and model_or_fixed.bits != bits:
            raise ConfigError(f"the fixed-point model has {model_or_fixed.bits} bits, bits={bits} was asked for")
        return model_or_fixed
    return FixedPointModel.from_model(model_or_fixed, 8 if bits is None else bits)


def default_inputs(fpm: FixedPointModel, sequences: int = 2, steps: int = 3, seed: int = 0) -> np.ndarray:
    """Random float inputs in [-1, 1) for the testbench."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (sequences, steps, fpm.input_size))


def analytic_estimate(fpm: FixedPointModel, weights: str, target: str = "asic-generic") -> dict:
    """``fixed_point_design`` of the same shapes (weights as ROM when wired, register file when
    loadable), as the report.json block :func:`.design.synthesize_design` reads."""
    from ...cost.baselines import RecurrentShape, fixed_point_design  # noqa: PLC0415

    shapes = [RecurrentShape(lay.cell, lay.input_size, lay.hidden_size) for lay in fpm.layers]
    storage = "rom" if weights == "wired" else "register"
    cells = {lay.cell for lay in fpm.layers}
    d = fixed_point_design(shapes, bits=fpm.bits, weight_storage=storage, cell=next(iter(cells)))
    rep = d.estimate(target)
    note = ("analytic k-bit fixed-point baseline (sccompiler.cost.baselines.fixed_point_design), stored under "
            "'sc' so that synthesize_design puts it next to Yosys's numbers; this directory holds the baseline")
    if fpm.head is not None:
        note += (f"; the Linear head {fpm.head.name!r} ({fpm.head.in_size} -> {fpm.head.out_size}) is in the RTL but "
                 "not costed here (fixed_point_design models the recurrent layers only)")
    return {"target": target, "sc": d.name,
            "note": note,
            "designs": {d.name: {"description": d.description, "step_cycles": list(d.step_cycles),
                                 "cost": rep.to_json(), "primitives": d.inventory.counts()}}}


def emit_fixed_point_design(model_or_fixed, outdir: str | Path, *, bits: int | None = None, inputs: np.ndarray | None = None,
                            force: bool = False, weights: str = "wired", top: str = "fx_design",
                            sequences: int = 2, steps: int = 3, seed: int = 0) -> dict[str, list[Path]]:
    """Write ``outdir/rtl``, ``outdir/tb`` and ``outdir/report.json`` (module docstring).

    ``model_or_fixed``: an IR :class:`~sccompiler.ir.model.Model` (quantized to ``bits``, default
    8) or a :class:`FixedPointModel` (``bits``, if given, must match it).  ``inputs``: float (B, T, I) testbench inputs (quantized to Q(k-1));
    default ``sequences`` x ``steps`` uniform random values.  Existing outputs need ``force``; every
    file is written into a temporary directory first and moved into place at the end.
    Returns {"rtl": [...], "tb": [...], "report": [...]}.
    """
    if weights not in WEIGHT_MODES:
        raise SCValueError("weights", f"must be one of {', '.join(WEIGHT_MODES)}, got {weights!r}")
    if not isinstance(top, str) or not _IDENT.match(top):
        raise SCValueError("top", f"must be a Verilog identifier, got {top!r}")
    fpm = _as_fixed(model_or_fixed, bits)
    if fpm.bits > MAX_EMIT_BITS:
        raise SCValueError("bits", f"Verilog emission supports up to {MAX_EMIT_BITS} bits (2^k-entry LUTs), got {fpm.bits}")
    names = [_ident(lay.name) for lay in fpm.layers] + ([_ident(fpm.head.name)] if fpm.head is not None else [])
    if len(set(names)) != len(names):
        raise SCValueError("model", f"layer names must stay distinct as Verilog identifiers, got {names}")
    x = default_inputs(fpm, sequences, steps, seed) if inputs is None else inputs
    x_int = fpm.quantize_input(x)
    B, T, _ = x_int.shape
    if T >= (1 << STEP_BITS):
        raise SCValueError("inputs", f"at most {(1 << STEP_BITS) - 1} time steps, got {T}")
    out = Path(outdir)
    for sub in ("rtl", "tb", "report.json"):
        if (out / sub).exists() and not force:
            raise OutputExistsError(f"{out / sub} exists (use force / --force to overwrite)")
    em = _Emitter(fpm, top, weights)
    em.run()
    top_text = em.top_text()
    expected = fpm.forward(x_int)
    files = {f"{top}_{kind}.v": lut_module(top, kind, table, fpm.bits) for kind, table in
             (("sigmoid", fpm.sigmoid_lut), ("tanh", fpm.tanh_lut), ("tanh_c", fpm.tanh_c_lut))
             if kind != "tanh_c" or any(lay.cell == "lstm" for lay in fpm.layers)}
    files[f"{top}.v"] = top_text
    tb_files = _testbench(em, fpm, x_int, expected)
    man = json.loads(tb_files["manifest.json"])
    man["rtl"] = list(files)                      # dependencies first, the top last
    man["registers"] = dict(em.regs)
    tb_files["manifest.json"] = json.dumps(man, indent=1)
    report = {"kind": "fixed-point-baseline", "model": fpm.name, "bits": fpm.bits, "weights": weights,
              "cost": analytic_estimate(fpm, weights)}
    return _write_atomic(out, files, tb_files, report, force)


def _write_atomic(out: Path, rtl: dict[str, str], tb: dict[str, str], report: dict, force: bool) -> dict[str, list[Path]]:
    """Write everything into a temporary sibling directory, then move rtl/, tb/, report.json into
    ``out`` (replacing older ones only with ``force``)."""
    import tempfile  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fx-emit-", dir=out))
    try:
        for sub, content in (("rtl", rtl), ("tb", tb)):
            (tmp / sub).mkdir()
            for name, text in content.items():
                (tmp / sub / name).write_text(text)
        (tmp / "report.json").write_text(json.dumps(report, indent=1))
        for sub in ("rtl", "tb", "report.json"):
            dst = out / sub
            if dst.exists():
                if not force:
                    raise OutputExistsError(f"{dst} exists (use force / --force to overwrite)")
                shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
            (tmp / sub).replace(dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"rtl": [out / "rtl" / n for n in rtl], "tb": [out / "tb" / n for n in tb], "report": [out / "report.json"]}


def _testbench(em: _Emitter, fpm: FixedPointModel, x_int: np.ndarray, expected: dict) -> dict[str, str]:
    k = fpm.bits
    B, T, I = x_int.shape
    top = em.top
    tbn = f"{top}_tb"
    nl = len(fpm.layers)
    fields = []        # (layer ident, layer name, quantity, neuron, values (B, T), width)
    for p, lay, regs in em.state_outputs:
        for reg_name in regs:
            q = reg_name[len(p) + 1:]
            for u in range(lay.hidden_size):
                fields.append((p, lay.name, q, u, expected[lay.name][q][:, :, u], k))
    if em.head_output is not None:
        hp, yw = em.head_output
        for o in range(fpm.head.out_size):
            fields.append((hp, fpm.head.name, "y", o, expected[fpm.head.name]["y"][:, :, o], yw))
    offsets = [0]
    for f in fields:
        offsets.append(offsets[-1] + f[5])
    total = offsets[-1]
    mask = (1 << k) - 1
    in_words, exp_words = [], []
    for b in range(B):
        for t in range(T):
            w = 0
            for j in range(I):
                w |= (int(x_int[b, t, j]) & mask) << (k * j)
            in_words.append(f"{w:x}")
            w = 0
            for n, f in enumerate(fields):
                w |= (int(f[4][b, t]) & ((1 << f[5]) - 1)) << offsets[n]
            exp_words.append(f"{w:x}")
    nw = em.chain_words() if em.loadable else 0
    start_cyc = 1 + nw
    S = em.S
    lines = [
        f"// {tbn}: self-checking testbench of {top} (simulation only; generated by",
        "// sccompiler.backends.verilog.fixed_point).  Expected values: FixedPointModel.forward.",
        f"module {tbn} #(parameter integer FINISH = 1) (input wire clk);",
        *testbench_vectors(tbn, B, T, start_cyc + B * ((T + nl) * S + 10) + 10, I * k, total),
        f"    wire [{STEP_BITS - 1}:0] n_steps = {STEP_BITS}'d{T};",
    ]
    conns = []
    if em.loadable:
        lines += [f"    localparam integer NW = {nw};",
                  f"    reg [{k - 1}:0] w_mem [0:NW-1];",
                  f"    initial $readmemh(\"{tbn}_w.hex\", w_mem);",
                  "    reg w_load;",
                  f"    reg [{k - 1}:0] w_in;",
                  f"    initial begin w_load = 1'b0; w_in = {k}'d0; end"]
        conns += [".w_load(w_load)", ".w_in(w_in)"]
    names = [p for p, _, _ in em.state_outputs]
    timing = {}
    for p in names:
        if p == names[-1]:
            timing[p] = ("valid", "out_step", "exp_now")
            continue
        lines += [f"    wire valid_{p};", f"    wire [{STEP_BITS - 1}:0] out_step_{p};",
                  f"    wire [{total - 1}:0] exp_now_{p} = exp_mem[seq * T + (out_step_{p} < T ? out_step_{p} : 0)];"]
        conns += [f".valid_{p}(valid_{p})", f".out_step_{p}(out_step_{p})"]
        timing[p] = (f"valid_{p}", f"out_step_{p}", f"exp_now_{p}")
    for p, lay, regs in em.state_outputs:
        for r in regs:
            lines.append(f"    wire [{lay.hidden_size * k - 1}:0] o_{r};")
            conns.append(f".o_{r}(o_{r})")
    if em.head_output is not None:      # combinational from the last layer's h: checked with it
        hp, yw = em.head_output
        timing[hp] = timing[names[-1]]
        lines.append(f"    wire [{fpm.head.out_size * yw - 1}:0] o_{hp}_y;")
        conns.append(f".o_{hp}_y(o_{hp}_y)")
    lines.append(f"    {top} dut (.clk(clk), .rst(rst), .start(start), .n_steps(n_steps), .x_in(x_in), .busy(busy), "
                 f".done(done), .x_step(x_step), .valid(valid), .out_step(out_step), {', '.join(conns)});")
    lines.append(f"    wire [{total - 1}:0] exp_now = exp_mem[seq * T + (out_step < T ? out_step : 0)];")
    checks: dict[str, list[str]] = {p: [] for p in timing}
    for n, (p, lname, q, u, _, fw) in enumerate(fields):
        _, ostep, enow = timing[p]
        got = f"o_{p}_{q}[{u * fw + fw - 1}:{u * fw}]"
        exp = f"{enow}[{offsets[n] + fw - 1}:{offsets[n]}]"
        checks[p] += [
            f"            if ({got} !== {exp}) begin",
            f"                if (errors < {MAX_REPORTED}) $display(\"MISMATCH seq=%0d step=%0d layer={lname} "
            f"node={lname}.{q} neuron={u} expected=%0d got=%0d\", seq, {ostep}, $signed({exp}), $signed({got}));",
            "                errors = errors + 1;",
            "            end",
        ]
    body = ["    always @(posedge clk) begin",
            "        cyc <= cyc + 1;",
            "        if (cyc == 0) rst <= 1'b0;"]
    if em.loadable:
        body += ["        // load the weight scan chain (word 0 first), then start",
                 "        if (cyc >= 1 && cyc < 1 + NW) begin w_load <= 1'b1; w_in <= w_mem[cyc - 1]; end",
                 "        else w_load <= 1'b0;"]
    body += [
        f"        start <= (cyc == {start_cyc}) || (done && !start && seq + 1 < B && seen == T);",
        *[line for p in names[:-1] for line in [f"        if ({timing[p][0]}) begin", *checks[p], "        end"]],
        "        if (valid) begin",
        "            seen = seen + 1;",
        *checks[names[-1]],
        *(checks[em.head_output[0]] if em.head_output is not None else []),
        "        end",
        *testbench_ending(top, tbn),
    ]
    lines += body
    last = fpm.layers[-1]
    manifest: dict[str, Any] = {
        "top": top, "testbench": tbn, "layer": last.name, "length": S, "sequences": B, "steps": T,
        "checks": [{"node": f"{f[1]}.{f[2]}", "neuron": f[3], "width": f[5], "signed": True} for f in fields],
        "host_affine": None,
        "kind": "fixed-point-baseline", "bits": k, "weights": "loadable" if em.loadable else "wired",
        "cycles_per_step": S, "sequence_cycles": f"(T + {nl - 1}) * {S}",
        "load_cycles": nw, "scan_chain_bits": em.chain_bits if em.loadable else 0,
        "formats": fpm.formats.to_json(),
        "layers": [{"name": lay.name, "cell": lay.cell, "input_size": lay.input_size, "hidden_size": lay.hidden_size,
                    "linear_before_reset": lay.linear_before_reset if lay.cell == "gru" else None,
                    "stages": stages(lay), "f_ih": lay.f_ih, "f_hh": lay.f_hh, "acc_frac": lay.acc_frac,
                    "bias_bits": fpm.bias_bits(lay)} for lay in fpm.layers],
        "head": None if fpm.head is None else {
            "name": fpm.head.name, "in_size": fpm.head.in_size, "out_size": fpm.head.out_size, "f_w": fpm.head.f_w,
            "acc_frac": fpm.head.acc_frac, "bias_bits": fpm.head_bias_bits(), "output_bits": fpm.head_bits(),
            "timing": "combinational from the last layer's h register: no extra register or cycle"},
    }
    files = {f"{tbn}.v": "\n".join(lines), f"{tbn}_in.hex": "\n".join(in_words) + "\n",
             f"{tbn}_exp.hex": "\n".join(exp_words) + "\n"}
    if em.loadable:
        files[f"{tbn}_w.hex"] = "\n".join(em.chain_hex()) + "\n"
    files["manifest.json"] = json.dumps(manifest, indent=1)
    return files


def verify_fixed_point_design(outdir: str | Path, simulator: str = "icarus"):
    """Co-simulate an emitted baseline (same as :func:`.design.verify_design`)."""
    from .design import verify_design  # noqa: PLC0415

    return verify_design(outdir, simulator)


__all__ = ["emit_fixed_point_design", "verify_fixed_point_design", "analytic_estimate", "lut_module",
           "stages", "default_inputs", "quantize_activation"]
