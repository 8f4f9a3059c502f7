"""The fixed-point baseline's datapath and top module (architecture: :mod:`.fixed_point`):
sized values with their integer ranges (:class:`Value`), the arithmetic that keeps every width
exact (products, adder trees, round-half-up requantization with saturation), the per-layer
pipelines of LSTM and GRU cells, the Linear head, the shared phase / macro-step control and the
weight scan chain, and the 2^k-entry activation LUT modules."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ...errors import SCValueError
from ...quantize.fixed_point import FixedPointLayer, FixedPointModel
from ...sim.rules import signed_width, unsigned_width
from .emitter import STEP_BITS
from .names import NameTable, comment_text
from .verilog_text import VerilogModule, concat

#: cycles per time step by cell (registered stages, table in the module docstring)
STAGES = {"lstm": 3, "gru": 5, "gru_lbr": 4}
#: largest k whose 2^k-entry LUTs are emitted (a case table of 4096 lines per LUT module)
MAX_EMIT_BITS = 12
WEIGHT_MODES = ("wired", "loadable")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def layer_names(fpm: FixedPointModel) -> NameTable:
    """The naming table (names.py) of a fixed-point model's layers and head."""
    return NameTable([lay.name for lay in fpm.layers] + ([fpm.last_step] if fpm.last_step is not None else [])
                     + ([fpm.head.name] if fpm.head is not None else []))


def stages(lay: FixedPointLayer) -> int:
    """Registered stages (cycles) of one time step of ``lay``."""
    if lay.cell == "lstm":
        return STAGES["lstm"]
    return STAGES["gru_lbr"] if lay.linear_before_reset else STAGES["gru"]


@dataclass(frozen=True)
class Value:
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


SLICE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\[(\d+)(?::\d+)?\]$")


def sign_bit(v: Value) -> str:
    """The top bit of ``v`` as an expression (of a name or of a slice of one)."""
    if IDENTIFIER.match(v.expr):
        return v.expr if v.width == 1 else f"{v.expr}[{v.width - 1}]"
    m = SLICE.match(v.expr)
    if m is None:
        raise SCValueError("expr", f"internal: cannot take the sign bit of {v.expr!r}")
    return f"{m.group(1)}[{m.group(2)}]"


def extend(v: Value, to: int) -> str:
    """``v << v.shift`` extended (sign, or zero when unsigned) to ``to`` bits: a concatenation."""
    body = v.expr if v.shift == 0 else f"{{{v.expr}, {v.shift}'b0}}"
    if to < v.total:
        raise SCValueError("width", f"internal: cannot extend {v.total} bits to {to}")
    if to == v.total:
        return body
    fill = "1'b0" if v.unsigned else sign_bit(v)
    return f"{{{{{to - v.total}{{{fill}}}}}, {body}}}"


class FixedPointEmitter:
    """The top module of one fixed-point model: :meth:`run` writes the layers' datapaths
    (``decls``: wires with their values, ``body``: registers' always blocks and LUT instances),
    :meth:`top_text` the ports, control and output assigns around them."""

    def __init__(self, fpm: FixedPointModel, top: str, weights: str) -> None:
        self.m = fpm
        self.k = fpm.bits
        self.names = layer_names(fpm)
        self.top = top
        self.loadable = weights == "loadable"
        self.module = VerilogModule(top)
        # sections in the order of the module text: control first (written last, by top_text)
        self.control = self.module.section("control")
        self.decls = self.module.section("declarations")
        self.body = self.module.section("body")
        self.regs: dict[str, int] = {}            # register name -> bits (pipeline + state)
        self.chain: list[tuple[str, int, int]] = []   # scan-chain fields: (name, width, value)
        self.chain_bits = 0
        self.S = max(stages(lay) for lay in fpm.layers)
        self.phase_bits = unsigned_width(self.S - 1)

    # ------------------------------------------------------------------ helpers
    def wire(self, name: str, width: int, expr: str, unused_low: str = "") -> Value:
        """``wire [width-1:0] name = expr``; ``unused_low`` says why some of its bits are never
        read (Verilator's UNUSEDSIGNAL waived)."""
        self.decls.wire(name, width, init=expr, unused=unused_low or None, waive_statement=True)
        return Value(name, width, 0, 0)

    def val(self, name: str, width: int, expr: str, lo: int, hi: int, unused: str = "") -> Value:
        w = self.wire(name, width, expr, unused)
        return Value(w.expr, width, lo, hi)

    def reg(self, name: str, width: int) -> str:
        self.decls.reg(name, width)
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

    def materialize(self, name: str, v: Value, unused: str = "") -> Value:
        """A named wire holding ``v << v.shift`` (sign-extension and slicing then work on it)."""
        if v.shift == 0 and IDENTIFIER.match(v.expr) and not unused:
            return v
        return self.val(name, v.total, extend(v, v.total), v.lo, v.hi, unused)

    def signed_val(self, expr: str, width: int) -> Value:
        return Value(expr, width, -(1 << (width - 1)), (1 << (width - 1)) - 1)

    def mul(self, name: str, a: Value, b: Value) -> Value:
        """Signed product; an unsigned operand (:attr:`Value.unsigned`: its top bit is not a sign)
        gets a 0 sign bit."""
        c = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
        lo, hi = min(c), max(c)
        w = signed_width(lo, hi)
        ea = f"$signed({{1'b0, {a.expr}}})" if a.unsigned else f"$signed({a.expr})"
        eb = f"$signed({{1'b0, {b.expr}}})" if b.unsigned else f"$signed({b.expr})"
        self.decls.wire(name, w, signed=True, init=f"{ea} * {eb}")
        return Value(name, w, lo, hi)

    def add(self, name: str, a: Value, b: Value, sub: bool = False) -> Value:
        lo, hi = (a.lo - b.hi, a.hi - b.lo) if sub else (a.lo + b.lo, a.hi + b.hi)
        w = max(signed_width(lo, hi), a.total + (a.unsigned or b.unsigned), b.total + (a.unsigned or b.unsigned))
        return self.val(name, w, f"{extend(a, w)} {'-' if sub else '+'} {extend(b, w)}", lo, hi)

    def shifted(self, v: Value, shift: int) -> Value:
        """``v << shift`` as a value (concatenation, no logic)."""
        if shift == 0:
            return v
        return Value(v.expr, v.width, v.lo << shift, v.hi << shift, v.shift + shift)

    def tree(self, name: str, terms: list[Value]) -> Value:
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

    def requant(self, name: str, v: Value, shift: int, bits: int) -> Value:
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
        fits = signed_width(lo, hi) <= bits
        if wq <= bits:
            q = self.val(f"{name}_q", wq, expr, lo, hi)
            return self.val(name, bits, extend(q, bits), lo, hi)
        if fits:     # the range fits: the high bits are copies of the sign
            q = self.val(f"{name}_q", wq, expr, lo, hi, "high bits are sign copies (range fits)")
            return self.val(name, bits, f"{q.expr}[{bits - 1}:0]", lo, hi)
        q = self.val(f"{name}_q", wq, expr, lo, hi)
        top = f"{q.expr}[{wq - 1}:{bits - 1}]"
        ok = self.val(f"{name}_ok", 1, f"(&{top}) | ~(|{top})", 0, 1)      # no overflow: all equal
        sat = f"{{{q.expr}[{wq - 1}], {{{bits - 1}{{~{q.expr}[{wq - 1}]}}}}}}"
        lo_c, hi_c = max(lo, -(1 << (bits - 1))), min(hi, (1 << (bits - 1)) - 1)
        return self.val(name, bits, f"{ok.expr} ? {q.expr}[{bits - 1}:0] : {sat}", lo_c, hi_c)

    def lut(self, kind: str, inst: str, a: str) -> Value:
        k = self.k
        ow = k - 1 if kind == "sigmoid" else k
        out = f"{inst}_y"
        self.decls.wire(out, ow)
        self.body.instance(f"{self.top}_{kind}", inst, [], [("a", a), ("y", out)])
        if kind == "sigmoid":
            return Value(out, ow, 0, (1 << (k - 1)) - 1)
        return self.signed_val(out, k)

    @staticmethod
    def field_slice(vec: str, j: int, w: int) -> str:
        """Field ``j`` of a vector of ``w``-bit fields."""
        return f"{vec}[{j * w + w - 1}:{j * w}]" if w > 1 else f"{vec}[{j}]"

    def comment(self, text: str) -> None:
        self.decls.comment(text)

    # ------------------------------------------------------------------ layers
    def gate_row(self, p: str, lay: FixedPointLayer, r: int, xs: list[Value], hs: list[Value] | None,
                 bias: int | None, shift_x: int, shift_h: int, use_h_rows: bool = True) -> Value:
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

    def hn_row(self, p: str, lay: FixedPointLayer, u: int, hs: list[Value]) -> Value:
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

    def pipe(self, name: str, phase: int, vals: list[Value]) -> list[Value]:
        """A register (packed vector) loaded with ``vals`` in ``phase``; returns its slices."""
        vals = [self.materialize(f"{name}_in{j}", v) if v.shift else v for j, v in enumerate(vals)]
        w = vals[0].width
        total = w * len(vals)
        self.reg(name, total)
        self.body.always_single("posedge clk", f"if (phase == {self.phase_bits}'d{phase}) {name} <= "
                                              f"{concat(v.expr for v in vals)};")
        return [Value(self.field_slice(name, j, w), w, vals[j].lo, vals[j].hi) for j in range(len(vals))]

    def layer(self, li: int, lay: FixedPointLayer, xs: list[Value]) -> list[Value]:
        """Emit one layer; returns its h register slices."""
        k, H, fmt = self.k, lay.hidden_size, self.m.formats
        p = self.names.layer(lay.name)
        last = self.S - 1
        self.comment(f"===== layer {comment_text(lay.name)} ({lay.cell}"
                     f"{'' if lay.cell == 'lstm' else ', linear_before_reset=' + str(lay.linear_before_reset)}): "
                     f"{lay.input_size} -> {H}, weights Q{lay.f_ih} (w_ih) / Q{lay.f_hh} (w_hh), "
                     f"accumulator Q{lay.acc_frac}")
        h_reg = self.reg(f"{p}_h", H * k)
        hs = [self.signed_val(self.field_slice(h_reg, u, k), k) for u in range(H)]
        we = f"{p}_we"
        started = f"(mstep >= {STEP_BITS}'d{li}) && " if li else ""
        self.decls.wire(f"{p}_active", init=f"{started}({{1'b0, mstep}} < {{1'b0, steps}} + {STEP_BITS + 1}'d{li})")
        self.decls.wire(we, init=f"busy_r && (phase == {self.phase_bits}'d{last}) && {p}_active")
        pre_shift = lay.acc_frac - fmt.pre_frac
        sx, sh = lay.shift_ih, lay.shift_hh
        state_regs = [(h_reg, None)]
        if lay.cell == "lstm":
            c_reg = self.reg(f"{p}_c", H * k)
            cs = [self.signed_val(self.field_slice(c_reg, u, k), k) for u in range(H)]
            self.comment(f"{p} phase 0: 4H gate rows (i f g o): products, adder tree, bias, "
                         f"requantize to Q{fmt.pre_frac}")
            pre = [self.requant(f"{p}_pre_{r}", self.gate_row(p, lay, r, xs, hs, int(lay.bias[r]), sx, sh),
                                pre_shift, k)
                   for r in range(4 * H)]
            preq = self.pipe(f"{p}_pre_r", 0, pre)
            self.comment(f"{p} phase 1: activation LUTs")
            acts = {}
            for gi, g in enumerate("ifgo"):
                kind = "tanh" if g == "g" else "sigmoid"
                vals = [self.lut(kind, f"{p}_lut_{g}_{u}", preq[gi * H + u].expr) for u in range(H)]
                acts[g] = self.pipe(f"{p}_{g}_r", 1, vals)
            self.comment(f"{p} phase {last}: c = f*c + i*g (Q{fmt.cell_frac}), h = o*tanh(c) (Q{fmt.act_frac})")
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
            self.comment(f"{p} phase 0: r z rows (products, adder tree, bias, requantize to Q{fmt.pre_frac}) "
                         "and the n rows' parts")
            pre = [self.requant(f"{p}_pre_{r}", self.gate_row(p, lay, r, xs, hs, int(lay.bias[r]), sx, sh),
                                pre_shift, k)
                   for r in range(2 * H)]
            preq = self.pipe(f"{p}_pre_r", 0, pre)
            if lay.linear_before_reset:
                xn = [self.gate_row(p, lay, 2 * H + u, xs, None, int(lay.bias[2 * H + u]), 0, 0) for u in range(H)]
                xn = [self.widen(v, max(x.total for x in xn)) for v in xn]
                xnq = self.pipe(f"{p}_xn_r", 0, xn)
                hn_shift = fmt.act_frac + lay.f_hh - fmt.pre_frac
                hnv = [self.requant(f"{p}_hnq_{u}", self.hn_row(p, lay, u, hs), hn_shift, k) for u in range(H)]
                hnq = self.pipe(f"{p}_hn_r", 0, hnv)
                self.comment(f"{p} phase 1: r z LUTs; n_pre = requantize(xn + r*hn)")
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
                xn = [self.widen(v, max(x.total for x in xn)) for v in xn]
                xnq = self.pipe(f"{p}_xn_r", 0, xn)
                self.comment(f"{p} phase 1: r z LUTs; rh = requantize(r*h)")
                r = [self.lut("sigmoid", f"{p}_lut_r_{u}", preq[u].expr) for u in range(H)]
                z = [self.lut("sigmoid", f"{p}_lut_z_{u}", preq[H + u].expr) for u in range(H)]
                zq = self.pipe(f"{p}_z_r", 1, z)
                rhv = [self.requant(f"{p}_rh_{u}", self.mul(f"{p}_rhm_{u}", r[u], hs[u]), fmt.act_frac, k)
                       for u in range(H)]
                rhq = self.pipe(f"{p}_rh_r", 1, rhv)
                self.comment(f"{p} phase 2: n_pre = requantize(xn + W_hn rh)")
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
            self.comment(f"{p} phase {nq_phase}: n = tanh LUT")
            nv = [self.lut("tanh", f"{p}_lut_n_{u}", npq[u].expr) for u in range(H)]
            nq = self.pipe(f"{p}_n_r", nq_phase, nv)
            self.comment(f"{p} phase {last}: h = n + z*(h - n)  (= (1-z) n + z h)")
            h_new = []
            for u in range(H):
                d = self.add(f"{p}_hd_{u}", hs[u], nq[u], sub=True)
                zd = self.mul(f"{p}_zd_{u}", zq[u], d)
                s = self.add(f"{p}_hs_{u}", self.shifted(nq[u], fmt.act_frac), zd)
                h_new.append(self.requant(f"{p}_hnew_{u}", s, fmt.act_frac, k))
            state_regs = [(h_reg, h_new)]
        self.body.always("posedge clk", [
            "if (rst || start) begin",
            *[f"    {name} <= {self.regs[name]}'d0;" for name, _ in state_regs],
            f"end else if ({we}) begin",
            *[f"    {name} <= {concat(v.expr for v in vals)};" for name, vals in state_regs],
            "end"])
        self.body.always_single("posedge clk", f"{p}_wrote <= !(rst || start) && {we};")
        self.state_outputs.append((p, lay, [name for name, _ in state_regs]))
        self.h_next = h_new          # the h written at this layer's next write (the LastStep captures it)
        return hs

    def widen(self, v: Value, width: int) -> Value:
        """``v`` sign-extended to ``width`` bits (an expression for a register's concatenation)."""
        if v.total == width and v.shift == 0:
            return v
        return Value(extend(v, width), width, v.lo, v.hi)

    # ------------------------------------------------------------------ top
    def run(self) -> None:
        k, I = self.k, self.m.input_size
        self.state_outputs: list[tuple[str, FixedPointLayer, list[str]]] = []
        self.head_output: tuple[str, int] | None = None      # (head ident, output width)
        xs = [self.signed_val(self.field_slice("x_in", j, k), k) for j in range(I)]
        self.seq_output: tuple[str, int] | None = None       # (LastStep ident, hidden size)
        for li, lay in enumerate(self.m.layers):
            xs = self.layer(li, lay, xs)
        if self.m.last_step is not None:
            xs = self.last_step(xs)
        if self.m.head is not None:
            self.head(xs)

    @property
    def per_sequence(self) -> bool:
        """A LastStep: ``valid`` is high once per sequence (the last layer's last write)."""
        return self.m.last_step is not None

    def last_step(self, hs: list[Value]) -> list[Value]:
        """The LastStep: a register loaded with the last layer's h in the cycle it writes its last
        step (the run's last macro step), so the head reads inputs that change once per sequence."""
        k, p = self.k, self.names.layer(self.m.last_step)
        last = self.state_outputs[-1][0]
        H = len(hs)
        self.comment(f"===== last step {comment_text(self.m.last_step)}: the last layer's h at step T - 1, "
                     "captured when it writes that step (run_end)")
        reg = self.reg(f"{p}_h", H * k)
        self.body.always("posedge clk", [
            "if (rst || start) begin",
            f"    {reg} <= {H * k}'d0;",
            f"end else if ({last}_we && run_end) begin",
            f"    {reg} <= {concat(v.expr for v in self.h_next)};",
            "end"])
        self.seq_output = (p, H)
        return [self.signed_val(self.field_slice(reg, u, k), k) for u in range(H)]

    def head(self, hs: list[Value]) -> None:
        """The Linear head, combinational from the last layer's h register (after a LastStep: from
        its register): y = W h + b exact."""
        hd, k = self.m.head, self.k
        p = self.names.layer(hd.name)
        yw, bb = self.m.head_bits(), self.m.head_bias_bits()
        src = "last step" if self.per_sequence else "h"
        self.comment(f"===== head {comment_text(hd.name)} (linear {hd.in_size} -> {hd.out_size}, weights Q{hd.f_w}): "
                     f"combinational from the {src} register, exact accumulator Q{hd.acc_frac}, "
                     f"{yw} bits signed per output")
        ys = []
        for o in range(hd.out_size):
            terms = []
            for j, hv in enumerate(hs):
                w = self.signed_val(self.const_or_chain(f"{hd.name}.weight[{o}][{j}]", hd.weight[o, j], k), k)
                terms.append(self.mul(f"{p}_ypx_{o}_{j}", hv, w))
            b = self.const_or_chain(f"{hd.name}.bias[{o}]", int(hd.bias[o]), bb)
            terms.append(self.val(f"{p}_yb_{o}", bb, b, -(1 << (bb - 1)), (1 << (bb - 1)) - 1))
            ys.append(self.widen(self.tree(f"{p}_yacc_{o}", terms), yw))
        self.decls.wire(f"{p}_y", hd.out_size * yw, init=concat(v.expr for v in ys))
        self.head_output = (p, yw)

    def top_text(self) -> str:
        """The complete top module (after :meth:`run`)."""
        k, S = self.k, self.S
        nl = len(self.m.layers)
        names = [p for p, _, _ in self.state_outputs]
        last = names[-1]
        fmt = self.m.formats
        m = self.module
        m.comments = [
            f"// {self.top}: {k}-bit fixed-point baseline of '{self.m.name}', generated by",
            "// sccompiler.backends.verilog.fixed_point (bit-exact with sccompiler.quantize.fixed_point).",
            (f"// Formats: x/h/gates Q{fmt.act_frac}, pre-activations Q{fmt.pre_frac}, LSTM c Q{fmt.cell_frac}; "
             f"weights {'wired constants' if not self.loadable else 'in a scan chain (w_load / w_in)'}."),
            f"// {S} cycles per time step (phase 0..{S - 1}); layer l runs one step behind layer l-1.",
            "// Synthesizable Verilog-2005; protocol as the SC top (docs/fixed-point-baseline.md)."]
        self.ports(names)
        self.control_logic(names)
        out = m.section("outputs")
        out.assign("busy", "busy_r")
        out.assign("done", "done_r")
        out.assign("x_step", "mstep")
        out.assign("valid", "seq_valid" if self.per_sequence else f"{last}_wrote")
        out.assign("out_step", f"mstep - {STEP_BITS}'d{nl}")
        for li, p in enumerate(self.inner(names)):
            out.assign(f"valid_{p}", f"{p}_wrote")
            out.assign(f"out_step_{p}", f"mstep - {STEP_BITS}'d{li + 1}")
        for _, _, regs in self.state_outputs:
            for r in regs:
                out.assign(f"o_{r}", r)
        if self.seq_output is not None:
            out.assign(f"o_{self.seq_output[0]}_h", f"{self.seq_output[0]}_h")
        if self.head_output is not None:
            out.assign(f"o_{self.head_output[0]}_y", f"{self.head_output[0]}_y")
        return m.text()

    def inner(self, names: list[str]) -> list[str]:
        """The layers with their own ``valid_`` / ``out_step_`` ports: all but the last, and the
        last too after a LastStep (``valid`` is then the once-per-sequence one)."""
        return list(names) if self.per_sequence else list(names[:-1])

    def ports(self, names: list[str]) -> None:
        """The SC top's protocol ports, the scan-chain inputs (loadable), and every layer's state
        outputs (+ the head's y)."""
        k, m = self.k, self.module
        for name in ("clk", "rst", "start"):
            m.port("input", name)
        m.port("input", "n_steps", STEP_BITS)
        m.port("input", "x_in", self.m.input_size * k, f"feature j: Q{k - 1} at [{k}j +: {k}]")
        if self.loadable:
            m.port("input", "w_load", comment="shift w_in into the weight scan chain")
            m.port("input", "w_in", k)
        for name, width in (("busy", None), ("done", None), ("x_step", STEP_BITS), ("valid", None),
                            ("out_step", STEP_BITS)):
            m.port("output", name, width)
        for p in self.inner(names):
            m.port("output", f"valid_{p}")
            m.port("output", f"out_step_{p}", STEP_BITS)
        for _, lay, regs in self.state_outputs:
            for reg_name in regs:
                m.port("output", f"o_{reg_name}", lay.hidden_size * k)
        if self.seq_output is not None:
            m.port("output", f"o_{self.seq_output[0]}_h", self.seq_output[1] * k,
                   f"last step: the last layer's h at step T - 1 (Q{k - 1}), valid with valid")
        if self.head_output is not None:
            hp, yw = self.head_output
            m.port("output", f"o_{hp}_y", self.m.head.out_size * yw,
                   f"head: {yw}-bit signed Q{self.m.head.acc_frac} per output, valid with valid"
                   + (" (once per sequence)" if self.per_sequence else ""))

    def control_logic(self, names: list[str]) -> None:
        """One phase counter (cycles of a time step) and macro-step counter for all layers,
        busy / done, every layer's valid (it wrote its state), and the weight scan chain."""
        k, S, pw, c = self.k, self.S, self.phase_bits, self.control
        nl, S1 = len(self.m.layers), STEP_BITS + 1
        for p in names:
            c.reg(f"{p}_wrote", comment=f"{p} wrote its state at the previous edge (its valid)")
        self.regs.update({f"{p}_wrote": 1 for p in names})
        if self.per_sequence:
            c.reg("seq_valid", comment="the last layer wrote the sequence's last step at the previous edge")
            self.regs["seq_valid"] = 1
        c.comment("control: phase counts the cycles of a time step; mstep counts macro steps (layer l works on",
                  "step mstep - l); the run ends after n_steps + layers - 1 macro steps")
        c.reg("phase", pw)
        c.reg("mstep", STEP_BITS)
        c.reg("steps", STEP_BITS)
        c.reg(("busy_r", "done_r"))
        c.wire("step_end", init=f"busy_r && (phase == {pw}'d{S - 1})")
        c.wire("run_end", init=f"step_end && ({{1'b0, mstep}} + {S1}'d1 == {{1'b0, steps}} + {S1}'d{nl - 1})")
        c.always("posedge clk", [
            "if (rst) begin",
            f"    busy_r <= 1'b0; done_r <= 1'b0; phase <= {pw}'d0; mstep <= {STEP_BITS}'d0; steps <= {STEP_BITS}'d0;",
            "end else if (start) begin",
            f"    busy_r <= (n_steps != {STEP_BITS}'d0); done_r <= 1'b0; phase <= {pw}'d0; mstep <= {STEP_BITS}'d0;",
            "    steps <= n_steps;",
            "end else begin",
            f"    if ({names[-1]}_wrote && !busy_r) done_r <= 1'b1;   // the cycle after the last step's valid",
            "    if (step_end) begin",
            f"        phase <= {pw}'d0;",
            f"        mstep <= mstep + {STEP_BITS}'d1;",
            "        if (run_end) busy_r <= 1'b0;",
            "    end else if (busy_r) begin",
            f"        phase <= phase + {pw}'d1;",
            "    end",
            "end"])
        if self.per_sequence:
            self.body.always_single("posedge clk", f"seq_valid <= !(rst || start) && {names[-1]}_we && run_end;")
        for name, w in (("phase", pw), ("mstep", STEP_BITS), ("steps", STEP_BITS), ("busy_r", 1), ("done_r", 1)):
            self.regs[name] = w
        if self.loadable:
            n = self.chain_words() * k
            c.comment(f"weight scan chain: {self.chain_bits} bits of weights and biases ({self.chain_words()} words of "
                      f"{k} bits, the",
                      "first word shifted in ends at the top; the pad bits above the fields are never read)")
            c.reg("wchain", n, unused="", waive_statement=True)
            c.always_single("posedge clk", "if (w_load) wchain <= w_in;" if n == k else
                            f"if (w_load) wchain <= {{wchain[{n - k - 1}:0], w_in}};")
            self.regs["wchain"] = self.chain_bits      # Yosys removes the unread pad bits

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
    what = {"sigmoid": f"sigmoid(pre-activation), k-1-bit unsigned Q{k - 1} (never negative)",
            "tanh": f"tanh(pre-activation), k-bit signed Q{k - 1}",
            "tanh_c": f"tanh(cell state), k-bit signed Q{k - 1}"}[kind]
    m = VerilogModule(f"{top}_{kind}", [
        f"// {top}_{kind}: {1 << k}-entry LUT, a = two's-complement input code; y = {what}.",
        "// Generated by sccompiler.backends.verilog.fixed_point from sccompiler.quantize.fixed_point."])
    m.port("input", "a", k)
    m.port("output", "y", ow, net="reg")
    m.section("body").case_table("y", "a", [(f"{k}'h{c:x}", f"{ow}'d{v}") for c, v in enumerate(vals) if v != default],
                                 f"{ow}'d{default}")
    return m.text()
