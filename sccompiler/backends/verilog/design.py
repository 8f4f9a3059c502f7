"""Design-level Verilog: a synthesizable top per compiled design, and its self-checking testbench.

:func:`emit_design` turns a :class:`~sccompiler.design.CompiledDesign` into

* ``rtl/``: the library modules it instantiates (one file per module, :mod:`.library`), the
  and ``<top>.v``, the generated top: control (``start`` /
  ``busy`` / ``valid`` / ``done``, ``L`` cycles per time step, ``n_steps`` steps), input port,
  binary-domain XNOR + popcount, threshold ROMs, SNGs with their LFSRs, XNOR gates, APCs, WFSMs,
  counters and the state registers (h, c).  Every generated block starts with a comment naming
  the IR node it implements;
* ``tb/``: ``<top>_tb.v`` (simulation only) with ``$readmemh`` vectors of the inputs and of the
  expected per-step integers, produced by the design's own runtime
  (:meth:`sccompiler.runtime.engine.Runtime.run` with ``trace=True``), and ``manifest.json``.

Supported (everything else raises :class:`UnsupportedOpError` naming the node and op, before any
file is written): an optional embedding, stacked LSTM or GRU layers (``fsm_state`` carry or reset) either with
exact (+-s / 0) model inputs, ``gate_input: table`` (per-step statistics too; a GRU's n table also
reads r's pre-activations) and ``hidden: sign``, or with integral WFSM gates and ``hidden: stream``
(real inputs: the input port carries the input SNGs' thresholds; exact inputs may gate their
XNORs off, ``xnor_apc`` ``gated``; GRU ``xnor_int`` / ``islice`` / MUX, linear_before_reset 1
and 0); optionally followed by a dense head, exact (``xnor_popcount``) or streamed
(SNGs, ``xnor_apc``, up/down counters); the float affine of ``dense_out`` (``gain * k + bias``,
streamed ``gain * k / L + bias``) is applied by the host to the RTL's integer ``k`` (manifest).
Recurrent batch norm with per-step statistics: per-step input gains, bias constants and WFSM
table banks read ROMs addressed by the layer's ``min(step, T_st - 1)``; per-gate and per-row
operand banks (``xnor_apc`` over (G, M) / (R, M) streams).  Real inputs with per-row input
gains are refused (the port would carry one threshold per row and input).
Layer k + 1 (and a streamed head) runs one step behind layer k (pipelined).
Layers with different ``L`` step with the longest one, P; a layer with L < P holds its sources,
FSMs and counters (clock enable ``<layer>_en``) in the last P - L cycles of each step.

Timing (zero overhead cycles, so the free-running LFSRs and WFSMs see exactly the runtime's
``L`` cycles per step): ``start`` re-runs every stream primitive from reset (as the runtime runs
every sequence from reset); step ``t`` occupies cycles ``t L .. t L + L - 1`` after the start
edge.  Counters run freely and a step's count is ``count - base`` (modulo ``2^width``, exact since
one step never exceeds the width); it is final in the first cycle of the next step, where it is
bypassed to the consumers (h, c feed that cycle's thresholds) and captured in the state
registers.  ``valid`` is high in that cycle (and in the cycle after the last step), with
``out_step`` the finished step and the ``o_*`` ports its values.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import SCValueError, UnsupportedOpError
from ...sim.primitives import counter_width
from ...sim.sources import check_seed
from .library import lfsr_module_name, write_library

#: step counter / n_steps port width
STEP_BITS = 16
#: mismatch lines the testbench prints before it only counts
MAX_REPORTED = 10
#: largest threshold-ROM address (entries = 2^bits per SNG row): a GRU's n-gate table reads four
#: pre-activations; beyond this the ROM constants and their logic cones get unwieldy
MAX_ROM_ADDRESS_BITS = 16

def _sext(expr: str, width: int, to: int) -> str:
    """Sign-extend a signed ``width``-bit signal to ``to`` bits."""
    if to == width:
        return expr
    return f"{{{{{to - width}{{{expr}[{width - 1}]}}}}, {expr}}}"


def _sbits(lo: int, hi: int) -> int:
    """Two's complement width holding lo..hi."""
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


def _ident(name: str) -> str:
    return name.replace(".", "_").replace("-", "_")


def _unsupported(n, detail: str = "") -> UnsupportedOpError:
    return UnsupportedOpError(n.op, n.name, "Verilog emission does not support it yet"
                              + (f" ({detail})" if detail else ""))


@dataclass
class _Sig:
    """Hardware representation of a node.  kind: 'tern' (nz/pos bit vectors), 'word' (signed
    per-row integers), 'bits' (per-element stream bits), 'int' (per-row integral APC values),
    'count' (per-row step count of a counter), 'sign' / 'cval' (a decode)."""

    kind: str
    rows: list[str] = field(default_factory=list)     # per-element Verilog expressions
    width: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


class _Emitter:
    def __init__(self, design, top: str) -> None:
        from ...runtime.engine import Runtime  # noqa: PLC0415

        self.design = design
        self.netlist = design.netlist
        self.top = top
        self.rt = Runtime(self.netlist)
        src = self.netlist.sources
        if src.get("kind", "lfsr") != "lfsr":
            raise UnsupportedOpError("sources", None, f"Verilog emission needs LFSR sources, got {src.get('kind')!r}")
        self.width = int(src["width"])
        self.stride = int(src.get("stride") or self.width)
        self.lines: list[str] = []
        self.decl: list[str] = []
        self.sig: dict[str, _Sig] = {}
        self.modules: set[str] = set()
        self.outputs: list[dict] = []     # checked quantities: node, kind, width, signed, rows
        self.host: dict[str, Any] = {}
        self.registers: list[dict] = []
        self.step_rst_used: set[str] = set()
        self.deferred: list = []          # blocks that need a later node's widths (state ROMs)
        self.tsels: set[str] = set()      # per-step table index signals emitted so far
        self._check_layers()

    # ------------------------------------------------------------------ support check
    def _check_layers(self) -> None:
        layers = list(self.netlist.layers)
        # a leading embedding: token ids on the port, its table in ROMs of the first layer's operands
        self.embedding = layers.pop(0) if len(layers) > 1 and layers[0].kind == "embedding" else None
        rec = [p for p in layers if p.kind in ("lstm", "gru")]
        kinds = ", ".join(f"{p.name} ({p.kind})" for p in layers)
        if not rec or layers[0] is not rec[0]:
            raise UnsupportedOpError(layers[0].kind, layers[0].name, "Verilog emission supports LSTM/GRU layers first "
                                     f"(after an optional embedding; + a dense head) yet; this design has {kinds}")
        for k, p in enumerate(layers):
            if k < len(rec):
                if p.kind not in ("lstm", "gru"):
                    raise UnsupportedOpError(p.kind, p.name, "Verilog emission supports LSTM/GRU layers (+ a dense "
                                             f"head) yet; this design has {kinds}")
                if p.options.hidden == "sign" and p.options.gate_input != "table":
                    raise UnsupportedOpError(p.kind, p.name, "Verilog emission supports hidden='sign' with "
                                             f"gate_input='table' yet, got {p.options.gate_input!r}")
            elif p.kind != "dense" or k != len(layers) - 1:
                raise UnsupportedOpError(p.kind, p.name, "Verilog emission supports only a dense head (exact or "
                                         f"streamed) after the recurrent layers yet (got {p.kind})")
        # timed layers (own control, L cycles per step): the LSTMs and a streamed dense head
        self.rec_layers = [p.name for p in rec] + [p.name for p in layers[len(rec):]
                                                   if p.options.mode != "exact"]
        self.layer = self.rec_layers[-1]
        # every timed layer steps with one period P = the longest L (the layers run in lock step,
        # one step apart); a layer with a shorter L runs its L cycles, then holds its sources,
        # FSMs and counters (clock enable <layer>_en) for the remaining P - L cycles
        self.lengths = {p.name: int(p.length) for p in layers if p.name in self.rec_layers}
        self.P = max(self.lengths.values())
        self.ctl = self.rec_layers[0]

    # ------------------------------------------------------------------ helpers
    def emit(self, *lines: str) -> None:
        self.lines.extend(lines)

    def wire(self, decl: str) -> None:
        self.decl.append(f"    {decl};")

    @property
    def idles(self) -> bool:
        """True when the current layer's L is shorter than the step period (it has idle cycles)."""
        return self.lengths[self.ctl] < self.P

    @property
    def Lc(self) -> int:
        """L of the current layer."""
        return self.lengths[self.ctl]

    def lfsr(self, inst: str, seed: int, n: int) -> str:
        check_seed(int(seed), self.width)
        mod = lfsr_module_name(self.width, self.stride, enable=self.idles)
        self.modules.add(mod)
        r = f"{inst}_r"
        en = f", .en({self.ctl}_en)" if self.idles else ""
        self.wire(f"wire [{n - 1}:0] {r}")
        self.emit(f"    {mod} #(.SEED({self.width}'h{int(seed):x}), .N({n})) {inst} "
                  f"(.clk(clk), .rst({self.ctl}_srst){en}, .r({r}));")
        return r

    def held(self, d: str, width: int) -> str:
        """An integral step ``d`` (signed, ``width`` bits) that is 0 in the current layer's idle
        cycles (FSMs and up/down counters then keep their value)."""
        return f"({self.ctl}_en ? {d} : {width}'sd0)" if self.idles else d

    def rom(self, inst: str, addr: str, aw: int, table: list[int], dw: int) -> str:
        """A constant table ``data = table[addr]`` (entries beyond the table read 0) as a
        combinational ``case``: the most frequent entry is the default, so only the others are
        listed (thresholds saturate at 0 / 2^n over much of a table).  A case synthesizes to a
        small logic cone in Yosys and needs no generate loop (no unroll limits in Verilator)."""
        values = [int(v) & ((1 << dw) - 1) for v in table] + [0] * ((1 << aw) - len(table))
        freq = Counter(values)
        default = max(freq, key=lambda v: (freq[v], -v))
        data = f"{inst}_data"
        self.wire(f"reg  [{dw - 1}:0] {data}")
        self.emit(f"    // ROM {inst}: {1 << aw} entries of {dw} bits, default {default}",
                  "    always @(*) begin",
                  f"        case ({addr})")
        self.emit(*[f"            {aw}'h{i:x}: {data} = {dw}'d{v};" for i, v in enumerate(values) if v != default])
        self.emit(f"            default: {data} = {dw}'d{default};",
                  "        endcase",
                  "    end")
        return data

    def _unused(self, expr: str, why: str) -> None:
        """Waive Verilator's UNUSEDSIGNAL on the wire behind ``expr`` (a stream that no operand
        reads: its SNG stays, as in the netlist, and synthesis removes it)."""
        name = expr.split("[")[0]
        for k, d in enumerate(self.decl):
            if d.strip().startswith("wire") and d.rstrip(";").split()[-1] == name and "lint_off" not in d:
                self.decl[k] = (f"    /* verilator lint_off UNUSEDSIGNAL */ {d.strip().rstrip(';')} "
                                f"/* verilator lint_on UNUSEDSIGNAL */;   // {why}")

    def _tsel(self, t_st: int) -> tuple[str | None, int]:
        """(signal, width) of ``min(step, t_st - 1)`` of the current layer: the index of the
        per-step table (statistics row) of the step being run; (None, 0) when ``t_st`` is 1."""
        if t_st <= 1:
            return None, 0
        tw = (t_st - 1).bit_length()
        c = self.ctl
        name = f"{c}_tsel{t_st}"
        if name not in self.tsels:
            self.tsels.add(name)
            self.wire(f"wire [{tw - 1}:0] {name}")
            self.emit(f"    // per-step table index of {c}: min(step, {t_st - 1}) (steps past the last statistics row "
                      "use the last)",
                      f"    assign {name} = ({c}_step >= {STEP_BITS}'d{t_st - 1}) ? {tw}'d{t_st - 1} : {c}_step[{tw - 1}:0];")
        return name, tw

    # ------------------------------------------------------------------ nodes
    def run(self) -> None:
        for n in self.netlist.nodes:
            self.ctl = n.layer if n.layer in self.rec_layers else self.rec_layers[-1]
            handler = getattr(self, f"_op_{n.op}", None)
            if handler is None:
                raise _unsupported(n)
            self.emit("", f"    // IR node {n.name} ({n.op}, shape {list(n.shape)}, layer {n.layer})")
            handler(n)
        for block in self.deferred:
            block()
        for reg in self.registers:
            if reg.get("flag"):
                q, c = reg["q"], reg["ctl"]
                self.decl += [f"    reg  {q}_at_reset;   // {reg['node'].name} still holds its reset value",
                              f"    wire {q}_use_reset = {q}_at_reset && !({c}_boundary || {c}_flush);"]
                self.emit(f"    // IR node {reg['node'].name}: reset-value flag (the fresh value bypasses it)",
                          "    always @(posedge clk) begin",
                          f"        if ({c}_srst) {q}_at_reset <= 1'b1;",
                          f"        else if ({c}_first || {c}_flush) {q}_at_reset <= ({q}_at_reset && !{c}_boundary && !{c}_flush);",
                          "    end")
        out = self.netlist.metadata["output"]
        node = self.netlist.node(out)
        if node.op not in ("dense_out", "decode"):
            raise _unsupported(node, "design output")

    def _op_input(self, n) -> None:
        if n.params.get("source") is None:                     # the model input port
            if n.params.get("kind") == "tokens":
                if self.embedding is None:
                    raise _unsupported(n, "token inputs without an embedding")
                vocab = int(np.asarray(self.netlist.node(f"{self.embedding.name}.y").arrays["table"]).shape[0])
                tw = max(1, (vocab - 1).bit_length())
                if tw > MAX_ROM_ADDRESS_BITS:
                    raise _unsupported(n, f"a vocabulary of {vocab} tokens ({tw} > {MAX_ROM_ADDRESS_BITS} ROM address bits)")
                self.in_size, self.vocab = 1, vocab
                self.x_format, self.x_width = "token", tw
                self.sig[n.name] = _Sig("token", ["x_in"], tw)
                return
            if n.params.get("kind") != "features":
                raise _unsupported(n, f"{n.params.get('kind')!r} inputs")
            size = n.size
            self.in_size = size
            self.x_format, self.x_width = "tern", 2
            self.sig[n.name] = _Sig("port", [f"x_in[{2 * j}]" for j in range(size)], 2,
                                    {"pos": [f"x_in[{2 * j + 1}]" for j in range(size)]})
            return
        source = n.params["source"]
        if self.embedding is not None and source == f"{self.embedding.name}.y":
            self._embedded_input(n, self.sig[source])
            return
        if not n.params.get("exact"):
            if source == "model.input":
                # real inputs arrive as the thresholds X of their SNG bank (bound by that SNG)
                self.sig[n.name] = _Sig("real", [], 0, {"node": n})
                return
            # a previous layer's decoded h count, held by its state register (see below)
            reg = next((r for r in self.registers if r["next"].name == source and r["kind"] == "cval"), None)
            if reg is None:
                raise _unsupported(n, f"input from {source!r}")
            self.sig[n.name] = self.sig[reg["node"].name]
            return
        if source == "model.input":
            self.in_scale = float(n.params["scale"])
            port = self.sig[source]
            self.sig[n.name] = _Sig("tern", list(port.rows), 1, {"pos": list(port.extra["pos"]), "scale": self.in_scale})
            return
        # a previous layer's h: its state register holds it (bypassed in its boundary cycle) for the
        # whole of the previous layer's next step, which is this layer's step
        reg = next((r for r in self.registers if r["next"].name == source and r["kind"] == "tern"), None)
        if reg is None or float(n.params["scale"]) != 1.0:
            raise _unsupported(n, f"input from {source!r}")
        s = self.sig[reg["node"].name]
        self.sig[n.name] = _Sig("tern", list(s.rows), 1, {"pos": list(s.extra["pos"]), "scale": 1.0})

    def _op_lookup(self, n) -> None:
        tok = self.sig[n.inputs[0]]
        if tok.kind != "token":
            raise _unsupported(n, f"a lookup of a {tok.kind} signal")
        self.emit("    // the table lives in ROMs over the token id (the next layer's operands)")
        self.sig[n.name] = _Sig("embed", [], 0, {"table": np.asarray(n.arrays["table"], dtype=np.float64),
                                                 "token": tok.rows[0], "tw": tok.width})

    def _embedded_input(self, n, emb: _Sig) -> None:
        """The first layer's input from the embedding.  Exact rows ({-s, 0, s}): one ROM over the
        token id gives every feature's nonzero/positive bits; real rows: the input SNG bank reads
        a threshold ROM per element over the token id (see _op_sng)."""
        table = emb.extra["table"]
        if not n.params.get("exact"):
            self.sig[n.name] = _Sig("real_embed", [], 0, {"node": n, **emb.extra})
            return
        a = float(n.params["scale"])
        if not np.all(np.isclose(np.abs(table), a, rtol=1e-9, atol=0) | (table == 0)):
            raise _unsupported(n, f"an exact input whose embedding table is not in {{-{a:g}, 0, {a:g}}}")
        e = table.shape[1]
        words = [sum(((1 if v != 0 else 0) | (2 if v > 0 else 0)) << (2 * j) for j, v in enumerate(row)) for row in table]
        rom = self.rom(f"{_ident(n.name)}_rom", emb.extra["token"], emb.extra["tw"], words, 2 * e)
        self.sig[n.name] = _Sig("tern", [f"{rom}[{2 * j}]" for j in range(e)], 1,
                                {"pos": [f"{rom}[{2 * j + 1}]" for j in range(e)], "scale": a})

    def _op_register(self, n) -> None:
        if float(n.params.get("reset", 0.0)) != 0.0:
            raise _unsupported(n, "nonzero reset value")
        nxt = self.netlist.node(n.params["next"])
        if nxt.op != "decode":
            raise _unsupported(n, f"state from a {nxt.op} node")
        mode = nxt.params["mode"]
        cnt = self.netlist.node(nxt.inputs[0])
        if mode == "sign" and cnt.op == "counter":
            kind = "tern"
        elif (mode, cnt.op) in (("integral", "updown_counter"), ("bipolar", "counter")):
            kind = "cval"
        else:
            raise _unsupported(n, f"state decoded by {mode!r} from a {cnt.op}")
        # the register's value is known only after its counter is emitted: placeholders, bound later
        q = _ident(n.name)
        self.registers.append({"node": n, "next": nxt, "counter": cnt, "q": q, "kind": kind})
        rows = [f"{q}_now{i}" for i in range(n.size)]
        if kind == "tern":
            self.sig[n.name] = _Sig("tern", [f"{q}_nz_now[{i}]" for i in range(n.size)], 1,
                                    {"pos": [f"{q}_pos_now[{i}]" for i in range(n.size)]})
        else:
            self.sig[n.name] = _Sig("cval", rows, 0, {"decode": nxt, "q": q})

    def _op_xnor_popcount(self, n) -> None:
        src = self.sig[n.inputs[0]]
        if src.kind != "tern":
            raise _unsupported(n, f"operands of kind {src.kind}")
        if float(n.params.get("operand_scale", 1.0)) != float(src.extra.get("scale", 1.0)):
            raise _unsupported(n, "operand scale differs from the operands' scale")
        w = np.asarray(n.arrays["weights"])
        if w.ndim != 2 or not np.all(np.isin(w, (-1, 0, 1))):
            raise _unsupported(n, "weights must be a (rows, J) array of -1/0/+1")
        rows_n, j = w.shape
        kw = counter_width(j)
        sw = kw + 1                  # = _sbits(-j, j)
        base = _ident(n.name)
        o_nz = "{" + ", ".join(reversed(src.rows)) + "}"
        o_pos = "{" + ", ".join(reversed(src.extra["pos"])) + "}"
        self.wire(f"wire [{j - 1}:0] {base}_onz")
        self.wire(f"wire [{j - 1}:0] {base}_opos")
        self.emit(f"    assign {base}_onz = {o_nz};", f"    assign {base}_opos = {o_pos};")
        rows = []
        for r in range(rows_n):
            wnz = sum(1 << k for k in range(j) if w[r, k] != 0)
            wpos = sum(1 << k for k in range(j) if w[r, k] > 0)
            p = f"{base}_r{r}"
            for s in ("act", "eq", "same"):
                self.wire(f"wire [{j - 1}:0] {p}_{s}")
            self.wire(f"wire [{kw - 1}:0] {p}_nsame")
            self.wire(f"wire [{kw - 1}:0] {p}_nact")
            self.wire(f"wire signed [{sw - 1}:0] {p}_k")
            # |k| <= J < 2^kw: the kw+1-bit modular difference is k in two's complement
            self.emit(f"    // row {r}: k = 2 popcount(XNOR(w, o) & active) - popcount(active)",
                      f"    sc_and_array #(.K({j})) {p}_u_act (.a({j}'h{wnz:x}), .b({base}_onz), .y({p}_act));",
                      f"    sc_xnor_array #(.K({j})) {p}_u_xnor (.a({j}'h{wpos:x}), .b({base}_opos), .y({p}_eq));",
                      f"    sc_and_array #(.K({j})) {p}_u_same (.a({p}_eq), .b({p}_act), .y({p}_same));",
                      f"    sc_apc #(.M({j})) {p}_u_nsame (.bits({p}_same), .k({p}_nsame));",
                      f"    sc_apc #(.M({j})) {p}_u_nact (.bits({p}_act), .k({p}_nact));",
                      f"    assign {p}_k = {{{p}_nsame, 1'b0}} - {{1'b0, {p}_nact}};")
            rows.append(f"{p}_k")
        self.modules.update({"sc_and_array", "sc_xnor_array", "sc_apc"})
        self.sig[n.name] = _Sig("word", rows, sw, {"j": j})

    def _op_gate_table(self, n) -> None:
        if n.params.get("cell") not in ("lstm", "gru"):
            raise _unsupported(n, f"{n.params.get('cell')!r} tables")
        # per-step statistics: step t reads row min(t, rows - 1) of each array, so the tables of
        # steps 0 .. T_st - 1 (T_st = the most rows) cover every step
        t_st = max(int(np.asarray(n.arrays[a]).shape[0])
                   for a in ("ax", "ah", "shift", "shift_x", "shift_h") if a in n.arrays)
        tsel, tw = self._tsel(t_st)
        kx, kh = self.sig[n.inputs[0]], self.sig[n.inputs[1]]
        self.sig[n.name] = _Sig("gate", [], 0, {"kx": kx, "kh": kh, "node": n, "t_st": t_st, "tw": tw,
                                                "tsel": tsel})

    def _sng_thresholds(self, n, values: np.ndarray | None, t: int = 0, count: int = 1) -> np.ndarray:
        """Thresholds X (C, n.size) of the SNG bank ``n`` at step ``t`` for its input values
        (C, ...) -- or of its constants (``count`` rows) -- exactly as Runtime._sng computes them."""
        from ...runtime.engine import sng_values  # noqa: PLC0415
        from ...sim.encoding import threshold  # noqa: PLC0415

        v = sng_values(n, values, t, count if values is None else values.shape[0])
        return threshold(v, n.params["bits"], n.encoding, n.name).reshape(v.shape[0], -1)

    def _steps_of(self, n) -> int:
        """Number of per-step rows of the bank's constants or input gain (1: time-invariant)."""
        if "const" in n.arrays:
            c = np.asarray(n.arrays["const"])
            return int(c.shape[0]) if c.ndim == len(n.shape) + 1 else 1
        if "gain" in n.arrays:
            return int(np.asarray(n.arrays["gain"]).shape[0])
        return 1

    def _op_sng(self, n) -> None:
        bits = int(n.params["bits"])
        if "const" in n.arrays:
            self._const_sng(n, bits)
            return
        src = self.sig[n.inputs[0]]
        if src.kind == "cval_step":
            # a later layer reads a decoded count of an earlier one: through that layer's state
            # register, which holds step t's value during the reader's step t
            reg = next((r for r in self.registers if r["next"].name == n.inputs[0] and r["kind"] == "cval"), None)
            producer = self.netlist.node(n.inputs[0]).layer
            if reg is None or producer == n.layer:
                raise _unsupported(n, f"an SNG of {n.inputs[0]!r}")
            src = self.sig[reg["node"].name]
        seeds = np.asarray(n.arrays["seeds"]).reshape(-1)
        base = _ident(n.name)
        rep = int(n.params.get("repeat", 1))
        gain = np.asarray(n.arrays["gain"]) if "gain" in n.arrays else None
        if len(n.shape) == 2 and rep != n.shape[0] and gain is None:
            raise _unsupported(n, "per-row SNG banks")
        rows_per = n.shape[-1]
        t_st = self._steps_of(n)
        if src.kind == "real":
            if gain is not None and not np.all(gain == gain[:, :1]):
                raise _unsupported(n, "per-row input gains of real inputs (the input port would carry one threshold "
                                      "per row and input; use exact inputs, or batch norm with one bn_x/bn_h scale "
                                      "ratio per step)")
            if self.x_format != "tern" or "rows" in n.params or rows_per != self.in_size:
                raise _unsupported(n, "an input SNG bank other than one SNG per feature")
            # the port carries step t's thresholds of one copy (a per-step input gain is applied by
            # the host: the manifest says so); copies of a per-gate bank share them
            self.x_format, self.x_width, self.x_sng = "thr", bits + 1, n
            thr = [f"x_in[{j * (bits + 1) + bits}:{j * (bits + 1)}]" for j in range(rows_per)] * (n.size // rows_per)
        elif src.kind == "tern":
            # exact operands (+-s / 0) into SNGs: three thresholds, selected per element (and per
            # step when the bank has a per-step input gain: a ROM over {tsel, pos, nz})
            a = n.params["rows"][0] if "rows" in n.params else 0
            if a + rows_per > len(src.rows):
                raise _unsupported(n, "operand shapes")
            sc = float(src.extra.get("scale", 1.0))
            full = len(src.rows)
            cases = np.array([[0.0] * full, [-sc] * full, [0.0] * full, [sc] * full])   # {pos, nz}
            xs = np.stack([self._sng_thresholds(n, cases, t) for t in range(t_st)])      # (T, 4, size)
            tsel, tw = self._tsel(t_st)
            thr = []
            for i in range(n.size):
                r = i % rows_per
                nz, pos = src.rows[a + r], src.extra["pos"][a + r]
                w = f"{base}_x{i}"
                if tsel is None:
                    self.wire(f"wire [{bits}:0] {w}")
                    self.emit(f"    assign {w} = {nz} ? ({pos} ? {bits + 1}'d{int(xs[0, 3, i])} : "
                              f"{bits + 1}'d{int(xs[0, 1, i])}) : {bits + 1}'d{int(xs[0, 2, i])};")
                    thr.append(w)
                else:
                    table = [int(xs[min(t, t_st - 1), c, i]) for t in range(1 << tw) for c in range(4)]
                    thr.append(self.rom(f"{base}_rom{i}", f"{{{tsel}, {pos}, {nz}}}", tw + 2, table, bits + 1))
        elif src.kind == "real_embed":
            # every element's threshold is a function of the token (and of the step, with a
            # per-step input gain): a ROM over {tsel, token}
            tsel, tw = self._tsel(t_st)
            xs = [self._sng_thresholds(n, src.extra["table"], t) for t in range(t_st)]     # (V, size) each
            vocab, aw = xs[0].shape[0], src.extra["tw"]
            addr = src.extra["token"] if tsel is None else f"{{{tsel}, {src.extra['token']}}}"
            thr = []
            for i in range(n.size):
                table = [int(xs[min(t, t_st - 1)][v, i]) if v < vocab else 0
                         for t in range(1 << tw) for v in range(1 << aw)]
                thr.append(self.rom(f"{base}_rom{i}", addr, tw + aw, table, bits + 1))
        elif gain is not None:
            raise _unsupported(n, f"an input-gain SNG bank fed by a {src.kind} signal")
        elif src.kind == "gate":
            thr = self._gate_roms(n, src.extra, base, bits, rows_per) * (n.size // rows_per)
        elif src.kind == "cval":
            if "rows" in n.params or len(src.rows) != rows_per:
                raise _unsupported(n, "a sliced state bank")
            reg = next(x for x in self.registers if x["q"] == src.extra["q"])
            thr = [f"{base}_x{r}" for r in range(rows_per)] * (n.size // rows_per)

            def state_roms(n=n, reg=reg, src=src, base=base, bits=bits, rows_per=rows_per) -> None:
                # the count -> threshold map (decode, clip, scale, threshold), over every count code
                if "cw" not in reg:
                    raise _unsupported(n, "state whose counter is not emitted")
                cw = reg["cw"]
                dec = src.extra["decode"]
                codes = np.arange(1 << cw)
                counts = np.where(codes >= 1 << (cw - 1), codes - (1 << cw), codes) if reg["signed"] else codes
                lo, hi = reg["range"]                   # unreachable codes read 0
                ok = (counts >= lo) & (counts <= hi)
                vals = self.rt._eval(dec, {dec.inputs[0]: counts[ok][:, None].astype(np.float64)}, {}, {}, {},
                                     self.lengths[dec.layer], int(ok.sum()), 0)
                if isinstance(vals, tuple):
                    vals = vals[0]
                xs = np.zeros((codes.size, 1), dtype=np.int64)
                xs[ok] = self._sng_thresholds(n, vals)[:, :1]
                # before the first capture the register holds its reset value (0), which count 0
                # need not decode to (bipolar: 2*0/L - 1 = -1): its threshold then comes from a flag
                x_reset = int(self._sng_thresholds(n, np.zeros((1, 1)))[0, 0])
                q = reg["q"]
                self.emit("", f"    // IR node {n.name} (sng): threshold ROMs of {reg['node'].name}")
                for r in range(rows_per):
                    data = self.rom(f"{base}_rom{r}", f"{q}_now{r}", cw, xs[:, 0].tolist(), bits + 1)
                    self.wire(f"wire [{bits}:0] {base}_x{r}")
                    if x_reset == int(xs[0, 0]):
                        self.emit(f"    assign {base}_x{r} = {data};")
                    else:
                        reg["flag"] = True
                        self.emit(f"    assign {base}_x{r} = {q}_use_reset ? {bits + 1}'d{x_reset} : {data};")
            self.deferred.append(state_roms)
        else:
            raise _unsupported(n, f"an SNG fed by a {src.kind} signal")
        self._sng_bank(n, bits, thr, seeds)

    def _sng_bank(self, n, bits: int, thr: list[str], seeds: np.ndarray) -> None:
        """One LFSR + comparator per element of the bank (row-major over n.shape), element i
        compared with threshold expression ``thr[i]``."""
        self.modules.add("sc_sng")
        base = _ident(n.name)
        rows_per = n.shape[-1]
        out = []
        for idx in range(n.size):
            k, r = divmod(idx, rows_per)
            inst = f"{base}_k{k}_r{r}" if len(n.shape) == 2 else f"{base}_r{r}"
            rr = self.lfsr(f"{inst}_u_lfsr", int(seeds[idx]), bits)
            y = f"{inst}_y"
            self.wire(f"wire {y}")
            self.emit(f"    sc_sng #(.N({bits})) {inst}_u_sng (.r({rr}), .x({thr[idx]}), .y({y}));")
            out.append(y)
        self.sig[n.name] = _Sig("bits", out, 1, {"shape": tuple(n.shape)})

    def _gate_roms(self, n, g: dict, base: str, bits: int, rows_per: int) -> list[str]:
        """Threshold ROMs of an SNG bank fed by a gate table: the runtime's own gate_table
        evaluation (then the SNG's slice, scale, threshold) at every address.  Address of row j:
        ``{tsel, kx_j, kh_j}``; a GRU's n row j also reads r's pre-activation (r only exists
        inside n's table): ``{tsel, kx_rj, kh_rj, kx_nj, kh_nj}``."""
        gn = g["node"]
        kxw, khw = g["kx"].width, g["kh"].width
        a = n.params["rows"][0] if "rows" in n.params else 0
        hidden = int(gn.params.get("hidden", 0))
        with_r = gn.params["cell"] == "gru" and a >= 2 * hidden
        pairs = 2 if with_r else 1
        aw = g["tw"] + pairs * (kxw + khw)
        if aw > MAX_ROM_ADDRESS_BITS:
            raise _unsupported(n, f"its gate-table ROM needs {aw} address bits (> {MAX_ROM_ADDRESS_BITS}: "
                                  "{kx_r, kh_r, kx_n, kh_n} of a GRU's n gate); use fewer inputs/hidden units or "
                                  "gate_input='integral_wfsm'")

        def signed(v: np.ndarray, w: int) -> np.ndarray:
            return np.where(v >= 1 << (w - 1), v - (1 << w), v).astype(np.float64)

        grid = np.arange(1 << (pairs * (kxw + khw)))
        fields = []                                              # the address fields, low bits last
        shift = pairs * (kxw + khw)
        for w in (kxw, khw) * pairs:
            shift -= w
            fields.append(signed((grid >> shift) & ((1 << w) - 1), w))
        rows = gn.size
        kx = np.repeat(fields[0][:, None], rows, 1)
        kh = np.repeat(fields[1][:, None], rows, 1)
        if with_r:                                               # r rows [0, H) <- fields 0, 1; n rows <- 2, 3
            kx[:, 2 * hidden:] = fields[2][:, None]
            kh[:, 2 * hidden:] = fields[3][:, None]
        tables = []
        for t in range(1 << g["tw"]):                            # address {tsel, ...}
            vals = self.rt._eval(gn, {gn.inputs[0]: kx, gn.inputs[1]: kh}, {}, {}, {}, self.Lc, grid.size,
                                 min(t, g["t_st"] - 1))
            tables.append(self._sng_thresholds(n, vals))         # (C, rows)
        xs = np.concatenate(tables, axis=0)
        thr = []
        for r in range(rows_per):
            parts = [g["kx"].rows[a + r], g["kh"].rows[a + r]]
            if with_r:
                rr = a + r - 2 * hidden
                parts = [g["kx"].rows[rr], g["kh"].rows[rr]] + parts
            addr = "{" + ", ".join(([g["tsel"]] if g["tsel"] else []) + parts) + "}"
            thr.append(self.rom(f"{base}_rom{r}", addr, aw, xs[:, r].tolist(), bits + 1))
        return thr

    def _const_sng(self, n, bits: int) -> None:
        """A bank of SNGs of constants (bias streams): thresholds wired, as Runtime._sng computes
        them; per-step constants (batch norm statistics) read a ROM over the step index."""
        t_st = self._steps_of(n)
        xs = np.concatenate([self._sng_thresholds(n, None, t) for t in range(t_st)])    # (T, size)
        tsel, tw = self._tsel(t_st)
        base = _ident(n.name)
        thr = []
        for i in range(n.size):
            col = [int(v) for v in xs[:, i]]
            if tsel is None or len(set(col)) == 1:
                thr.append(f"{bits + 1}'d{col[0]}")
            else:
                thr.append(self.rom(f"{base}_rom{i}", tsel, tw, [col[min(t, t_st - 1)] for t in range(1 << tw)], bits + 1))
        self._sng_bank(n, bits, thr, np.asarray(n.arrays["seeds"]).reshape(-1))

    def _op_slice(self, n) -> None:
        s = self.sig[n.inputs[0]]
        a, b = n.params["rows"]
        if s.kind != "bits" or len(n.shape) != 1 or len(s.extra.get("shape", ())) != 1:
            raise _unsupported(n, "slices of 2-D banks")
        self.emit(f"    // wires: rows [{a}, {b}) of {n.inputs[0]}")
        self.sig[n.name] = _Sig("bits", s.rows[a:b], 1, {"shape": tuple(n.shape)})

    def _op_xnor_apc(self, n) -> None:
        s = self.sig[n.inputs[0]]
        w = np.asarray(n.arrays["weights"])
        shape = tuple(s.extra.get("shape", ()))
        if s.kind != "bits" or w.ndim != 2 or not shape or shape[-1] != w.shape[1]:
            raise _unsupported(n, "operand shapes")
        if len(shape) == 2:
            # (G, M) banks: rows of gate k read bank k ("groups", per-gate SNGs); (R, M): row r
            # reads its own M streams (per-row input gains)
            groups = int(n.params.get("groups", shape[0]))
            if groups != shape[0] or w.shape[0] % groups:
                raise _unsupported(n, f"{shape[0]} operand banks for {w.shape[0]} rows in {groups} groups")
        elif "groups" in n.params:
            raise _unsupported(n, "groups over a 1-D operand bank")
        per = w.shape[0] // shape[0] if len(shape) == 2 else w.shape[0]

        def operand(r: int, j: int) -> str:
            return s.rows[(r // per) * w.shape[1] + j] if len(shape) == 2 else s.rows[j]
        if not np.all(np.isin(w, (-1, 0, 1))):
            raise _unsupported(n, "weights must be -1/0/+1")
        gate = None
        if n.params.get("gated"):
            # zero exact inputs switch their XNORs off: operand j is enabled by x's nonzero bit
            gate = self.sig[n.inputs[1]]
            if gate.kind != "tern" or len(gate.rows) != w.shape[1]:
                raise _unsupported(n, f"gated by a {gate.kind} signal")
        m_max = int(np.max(np.count_nonzero(w, axis=1))) if w.size else 0
        dw = counter_width(max(m_max, 1)) + 1
        base = _ident(n.name)
        read = {operand(r, j) for r in range(w.shape[0]) for j in range(w.shape[1]) if w[r, j] != 0}
        for e in s.rows:
            if e not in read:
                self._unused(e, f"no nonzero weight of {n.name} reads it")
        out = []
        for r in range(w.shape[0]):
            active = [j for j in range(w.shape[1]) if w[r, j] != 0]
            p = f"{base}_r{r}"
            self.wire(f"wire signed [{dw - 1}:0] {p}_d")
            if not active:
                self.emit(f"    assign {p}_d = {dw}'sd0;   // row {r}: no active weight")
                out.append(f"{p}_d")
                continue
            m = len(active)
            wpos = sum(1 << k for k, j in enumerate(active) if w[r, j] > 0)
            ops = "{" + ", ".join(operand(r, j) for j in reversed(active)) + "}"
            dm = counter_width(m) + 1
            self.wire(f"wire [{m - 1}:0] {p}_prod")
            self.wire(f"wire signed [{dm - 1}:0] {p}_dm")
            self.emit(f"    // row {r}: XNOR with the weight signs of operands {active} (zeros gated off), APC",
                      f"    sc_xnor_array #(.K({m})) {p}_u_xnor (.a({m}'h{wpos:x}), .b({ops}), .y({p}_prod));")
            if gate is None:
                self.emit(f"    sc_apc_bipolar #(.M({m})) {p}_u_apc (.bits({p}_prod), .d({p}_dm));")
            else:
                # d = 2 popcount(prod & en) - popcount(en), en_j = input j nonzero
                kw = counter_width(m)
                en = "{" + ", ".join(gate.rows[j] for j in reversed(active)) + "}"
                for sfx, width in (("en", m), ("on", m)):
                    self.wire(f"wire [{width - 1}:0] {p}_{sfx}")
                self.wire(f"wire [{kw - 1}:0] {p}_non")
                self.wire(f"wire [{kw - 1}:0] {p}_nen")
                self.emit(f"    assign {p}_en = {en};   // operands whose exact input is nonzero",
                          f"    sc_and_array #(.K({m})) {p}_u_gate (.a({p}_prod), .b({p}_en), .y({p}_on));",
                          f"    sc_apc #(.M({m})) {p}_u_non (.bits({p}_on), .k({p}_non));",
                          f"    sc_apc #(.M({m})) {p}_u_nen (.bits({p}_en), .k({p}_nen));",
                          f"    assign {p}_dm = {{{p}_non, 1'b0}} - {{1'b0, {p}_nen}};")
                self.modules.update({"sc_and_array", "sc_apc"})
            self.emit(f"    assign {p}_d = {_sext(f'{p}_dm', dm, dw)};")
            out.append(f"{p}_d")
        self.modules.add("sc_xnor_array")
        if gate is None:
            self.modules.add("sc_apc_bipolar")
        self.sig[n.name] = _Sig("int", out, dw, {"lo": -m_max, "hi": m_max})

    def _op_islice(self, n) -> None:
        s = self.sig[n.inputs[0]]
        a, b = n.params["rows"]
        if s.kind != "int":
            raise _unsupported(n, f"a slice of a {s.kind} signal")
        self.emit(f"    // wires: rows [{a}, {b}) of {n.inputs[0]}")
        self.sig[n.name] = _Sig("int", s.rows[a:b], s.width, dict(s.extra))

    def _op_xnor_int(self, n) -> None:
        """Every operand bit of the integral stream XNOR the row's stream r: the value times 2r - 1
        (the range is symmetric, so the negation fits the width)."""
        r, v = self.sig[n.inputs[0]], self.sig[n.inputs[1]]
        if r.kind != "bits" or v.kind != "int" or len(r.rows) != len(v.rows) or v.extra["lo"] != -v.extra["hi"]:
            raise _unsupported(n, "operand shapes")
        base = _ident(n.name)
        out = []
        for i in range(n.size):
            p = f"{base}_r{i}"
            self.wire(f"wire signed [{v.width - 1}:0] {p}_d")
            self.emit(f"    assign {p}_d = {r.rows[i]} ? {v.rows[i]} : -{v.rows[i]};")
            out.append(f"{p}_d")
        self.sig[n.name] = _Sig("int", out, v.width, dict(v.extra))

    def _op_mux(self, n) -> None:
        sel, a, b = (self.sig[i] for i in n.inputs)
        size = n.size
        if any(s.kind != "bits" or len(s.rows) != size for s in (sel, a, b)):
            raise _unsupported(n, "operand shapes")
        base = _ident(n.name)
        self.modules.add("sc_mux_array")
        self.wire(f"wire [{size - 1}:0] {base}_y")

        def cat(s: _Sig) -> str:
            return "{" + ", ".join(reversed(s.rows)) + "}"

        self.emit(f"    sc_mux_array #(.K({size})) {base}_u (.sel({cat(sel)}), .a({cat(a)}), .b({cat(b)}), .y({base}_y));")
        self.sig[n.name] = _Sig("bits", [f"{base}_y[{i}]" for i in range(size)], 1, {"shape": tuple(n.shape)})

    def _op_xnor(self, n) -> None:
        a, b = self.sig[n.inputs[0]], self.sig[n.inputs[1]]
        if a.kind != "bits" or b.kind != "bits":
            raise _unsupported(n)
        size = n.size
        rows = n.shape[-1]

        def lane(s: _Sig, i: int) -> str:
            return s.rows[i] if len(s.rows) == size else s.rows[i % rows]   # fan-out over leading K

        if len(a.rows) not in (size, rows) or len(b.rows) not in (size, rows):
            raise _unsupported(n, "operand shapes")
        base = _ident(n.name)
        self.modules.add("sc_xnor_array")
        self.wire(f"wire [{size - 1}:0] {base}_y")
        ca = "{" + ", ".join(lane(a, i) for i in reversed(range(size))) + "}"
        cb = "{" + ", ".join(lane(b, i) for i in reversed(range(size))) + "}"
        self.emit(f"    sc_xnor_array #(.K({size})) {base}_u (.a({ca}), .b({cb}), .y({base}_y));")
        self.sig[n.name] = _Sig("bits", [f"{base}_y[{i}]" for i in range(size)], 1, {"shape": tuple(n.shape)})

    def _op_apc(self, n) -> None:
        rows = n.size
        per_row: list[list[str]] = [[] for _ in range(rows)]
        ints: list[_Sig] = []
        for ref in n.inputs:
            s = self.sig[ref]
            if s.kind == "int" and len(s.rows) == rows:
                ints.append(s)
                continue
            if s.kind != "bits" or len(s.rows) % rows:
                raise _unsupported(n, f"operand {ref!r}")
            for i, e in enumerate(s.rows):
                per_row[i % rows].append(e)
        offset = np.asarray(n.arrays["offset"]).astype(int) if "offset" in n.arrays else np.zeros(rows, int)
        m = len(per_row[0])
        if any(len(p) != m for p in per_row):
            raise _unsupported(n, "rows with different operand counts")
        lo = -m + sum(s.extra["lo"] for s in ints) + int(offset.min())
        hi = m + sum(s.extra["hi"] for s in ints) + int(offset.max())
        dw0 = counter_width(m) + 1
        dw = max([dw0, _sbits(lo, hi)] + [s.width for s in ints])
        base = _ident(n.name)
        out = []
        for r in range(rows):
            p = f"{base}_r{r}"
            terms = []
            if m:
                self.modules.add("sc_apc_bipolar")
                self.wire(f"wire signed [{dw0 - 1}:0] {p}_d0")
                bits = "{" + ", ".join(reversed(per_row[r])) + "}"
                self.emit(f"    sc_apc_bipolar #(.M({m})) {p}_u (.bits({bits}), .d({p}_d0));")
                terms.append(_sext(f"{p}_d0", dw0, dw))
            terms += [_sext(s.rows[r], s.width, dw) for s in ints]
            off = int(offset[r])
            if off:
                terms.append(f"{'-' if off < 0 else ''}{dw}'sd{abs(off)}")
            self.wire(f"wire signed [{dw - 1}:0] {p}_d")
            self.emit(f"    assign {p}_d = {' + '.join(terms).replace('+ -', '- ') if terms else f'{dw}' + chr(39) + 'sd0'};")
            out.append(f"{p}_d")
        self.sig[n.name] = _Sig("int", out, dw, {"lo": lo, "hi": hi})

    def _op_wfsm(self, n) -> None:
        p = n.params
        policy = p.get("state_policy", "carry")
        if policy not in ("carry", "reset"):
            raise _unsupported(n, f"state_policy {policy!r}")
        # 'reset': the runtime puts the state at N/2 before every step; here the update of a step's
        # last cycle is replaced by that reset (its output bit used the state before it)
        frst = f"{self.ctl}_srst" if policy == "carry" else f"{self.ctl}_step_rst"
        if policy == "reset":
            self.step_rst_used.add(self.ctl)
        wq = np.asarray(n.arrays["wq"])
        d = self.sig[n.inputs[0]]
        if d.kind != "int":
            raise _unsupported(n, "binary-input WFSM")
        states, bits = int(p["states"]), int(p["weight_bits"])
        group = np.asarray(n.arrays["group"]).reshape(-1)
        seeds = np.asarray(n.arrays["wseeds"]).reshape(-1)
        base = _ident(n.name)
        self.modules.add("sc_wfsm")
        out = []
        sw = max(1, (states - 1).bit_length())
        if wq.ndim == 3:
            self._wfsm_banked(n, wq, d, frst, group, seeds)
            return
        for r in range(n.size):
            table = [int(v) for v in wq[int(group[r])]]
            packed = sum(v << (i * (bits + 1)) for i, v in enumerate(table))
            inst = f"{base}_r{r}"
            rw = self.lfsr(f"{inst}_u_lfsr", int(seeds[r]), bits)
            self.wire(f"wire {inst}_y")
            # the state is internal to sc_wfsm (its port serves the library's co-simulation)
            self.wire(f"/* verilator lint_off UNUSEDSIGNAL */ wire [{sw - 1}:0] {inst}_state /* verilator lint_on UNUSEDSIGNAL */")
            self.emit(f"    sc_wfsm #(.N({states}), .B({bits}), .INTEGRAL(1), .DW({d.width}), .RESET({states // 2}),",
                      f"        .WEIGHTS({states * (bits + 1)}'h{packed:x})) {inst}_u (",
                      f"        .clk(clk), .rst({frst}), .d({self.held(d.rows[r], d.width)}), .rw({rw}), .y({inst}_y), .state({inst}_state));")
            out.append(f"{inst}_y")
        self.sig[n.name] = _Sig("bits", out, 1, {"shape": tuple(n.shape)})

    def _wfsm_banked(self, n, wq: np.ndarray, d: _Sig, frst: str, group: np.ndarray, seeds: np.ndarray) -> None:
        """WFSMs with a per-step bank of weight tables (wq (T, G, N): step t reads table
        min(t, T - 1), batch norm statistics folded into the targets): the saturating counter
        (sc_fsm_int) and a ROM over {tsel, state} per row, y = (R' < Wq_t[s]) as in sc_wfsm."""
        states, bits = int(n.params["states"]), int(n.params["weight_bits"])
        t_st = int(wq.shape[0])
        tsel, tw = self._tsel(t_st)
        sw = max(1, (states - 1).bit_length())
        base = _ident(n.name)
        self.modules.add("sc_fsm_int")
        out = []
        for r in range(n.size):
            g = int(group[r])
            inst = f"{base}_r{r}"
            rw = self.lfsr(f"{inst}_u_lfsr", int(seeds[r]), bits)
            self.wire(f"wire [{sw - 1}:0] {inst}_state")
            self.wire(f"wire {inst}_y")
            self.emit(f"    sc_fsm_int #(.N({states}), .DW({d.width}), .RESET({states // 2})) {inst}_u_fsm (",
                      f"        .clk(clk), .rst({frst}), .d({self.held(d.rows[r], d.width)}), .state({inst}_state));")
            if tsel is None:
                table = [int(v) for v in wq[0, g]]
                addr, aw = f"{inst}_state", sw
            else:
                table = [int(wq[min(t, t_st - 1), g, s_]) if s_ < states else 0
                         for t in range(1 << tw) for s_ in range(1 << sw)]
                addr, aw = f"{{{tsel}, {inst}_state}}", tw + sw
            data = self.rom(f"{inst}_rom", addr, aw, table, bits + 1)
            self.emit(f"    assign {inst}_y = ({{1'b0, {rw}}} < {data});   // y = (R' < Wq_t[state])")
            out.append(f"{inst}_y")
        self.sig[n.name] = _Sig("bits", out, 1, {"shape": tuple(n.shape)})

    def _counter_common(self, n, cw: int, signed: bool) -> list[str]:
        """Free-running counter + base register + step value (count - base mod 2^cw)."""
        base = _ident(n.name)
        rows = []
        sg = "signed " if signed else ""
        c = self.ctl
        for r in range(n.size):
            p = f"{base}_r{r}"
            self.wire(f"reg  {sg}[{cw - 1}:0] {p}_base")
            self.wire(f"wire {sg}[{cw - 1}:0] {p}_step")
            self.emit(f"    assign {p}_step = {p}_count - {p}_base;   // this step's count (final at the boundary)",
                      f"    always @(posedge clk) begin",
                      f"        if ({c}_srst)       {p}_base <= {cw}'d0;",
                      f"        else if ({c}_first) {p}_base <= {p}_count;",
                      f"    end")
            rows.append(f"{p}_step")
        self.outputs.append({"node": n.name, "width": cw, "signed": signed, "rows": rows, "ctl": c})
        return rows

    def _op_counter(self, n) -> None:
        s = self.sig[n.inputs[0]]
        if s.kind != "bits" or len(s.rows) != n.size:
            raise _unsupported(n)
        L = self.Lc
        cw = counter_width(L)
        base = _ident(n.name)
        self.modules.add("sc_counter_up")
        for r in range(n.size):
            p = f"{base}_r{r}"
            y = f"{self.ctl}_en & {s.rows[r]}" if self.idles else s.rows[r]
            self.wire(f"wire [{cw - 1}:0] {p}_count")
            self.emit(f"    sc_counter_up #(.LENGTH({L})) {p}_u (.clk(clk), .rst({self.ctl}_srst), .y({y}), "
                      f".count({p}_count));")
        rows = self._counter_common(n, cw, False)
        self.sig[n.name] = _Sig("count", rows, cw, {"signed": False, "lo": 0, "hi": L})

    def _op_updown_counter(self, n) -> None:
        s = self.sig[n.inputs[0]]
        if s.kind != "int" or len(s.rows) != n.size:
            raise _unsupported(n)
        lo, hi = s.extra["lo"] * self.Lc, s.extra["hi"] * self.Lc
        cw = _sbits(lo, hi)
        base = _ident(n.name)
        self.modules.add("sc_counter_updown")
        for r in range(n.size):
            p = f"{base}_r{r}"
            self.wire(f"wire signed [{cw - 1}:0] {p}_count")
            self.emit(f"    sc_counter_updown #(.CW({cw}), .DW({s.width}), .RESET(0), .SAT_LO(0), .LO(0), "
                      f".SAT_HI(0), .HI(0)) {p}_u (",
                      f"        .clk(clk), .rst({self.ctl}_srst), .d({self.held(s.rows[r], s.width)}), .count({p}_count));")
        rows = self._counter_common(n, cw, True)
        self.sig[n.name] = _Sig("count", rows, cw, {"signed": True, "lo": lo, "hi": hi})

    def _op_decode(self, n) -> None:
        c = self.sig[n.inputs[0]]
        mode = n.params["mode"]
        base = _ident(n.name)
        if mode == "sign" and c.kind == "count" and not c.extra["signed"]:
            # h = +1 if 2 C >= L else -1  (runtime: np.where(2 * c >= L, 1, -1))
            self.wire(f"wire [{n.size - 1}:0] {base}_pos")
            for r in range(n.size):
                self.emit(f"    assign {base}_pos[{r}] = ({{1'b0, {c.rows[r]}, 1'b0}} >= {c.width + 2}'d{self.Lc});")
            rows = [f"{base}_pos[{r}]" for r in range(n.size)]
            self.sig[n.name] = _Sig("tern", ["1'b1"] * n.size, 1, {"pos": rows, "sign": True})
            self.outputs.append({"node": n.name, "width": 1, "signed": False, "rows": rows, "sign": True,
                                 "ctl": self.ctl})
        elif (mode == "integral" and c.kind == "count" and c.extra["signed"]) or \
                (mode == "bipolar" and c.kind == "count" and not c.extra["signed"]):
            self.sig[n.name] = _Sig("cval_step", list(c.rows), c.width)
        else:
            raise _unsupported(n, f"decode mode {mode!r}")
        for reg in self.registers:
            if reg["next"].name == n.name:
                self._bind_register(reg, n, c)

    def _bind_register(self, reg, dec, cnt: _Sig) -> None:
        """State storage: q holds the previous step's value; in the boundary cycle the fresh value
        is bypassed (q_now) and captured."""
        q = reg["q"]
        size = reg["node"].size
        c = self.ctl
        # the fresh value is used (and captured) in the boundary cycle and in the cycle after the
        # last step, so a next layer reads this layer's last h during its own last step
        fresh_now = f"({c}_boundary || {c}_flush)"
        capture = f"({c}_first || {c}_flush)"
        self.emit(f"    // IR node {reg['node'].name} (register <- {dec.name}): state storage, bypassed in the "
                  "boundary cycle")
        if reg["kind"] == "tern":
            self.decl += [f"    reg  [{size - 1}:0] {q}_nz_q;", f"    reg  [{size - 1}:0] {q}_pos_q;",
                          f"    wire [{size - 1}:0] {q}_nz_now;", f"    wire [{size - 1}:0] {q}_pos_now;"]
            fresh = "{" + ", ".join(reversed(self.sig[dec.name].extra["pos"])) + "}"
            self.emit(f"    assign {q}_nz_now = {fresh_now} ? {{{size}{{1'b1}}}} : {q}_nz_q;",
                      f"    assign {q}_pos_now = {fresh_now} ? {fresh} : {q}_pos_q;",
                      "    always @(posedge clk) begin",
                      f"        if ({c}_srst) begin {q}_nz_q <= {size}'d0; {q}_pos_q <= {size}'d0; end",
                      f"        else if {capture} begin {q}_nz_q <= {q}_nz_now; {q}_pos_q <= {q}_pos_now; end",
                      "    end")
        else:
            cw = cnt.width
            reg["cw"] = cw
            reg["signed"] = bool(cnt.extra["signed"])
            reg["ctl"] = c
            reg["range"] = (int(cnt.extra["lo"]), int(cnt.extra["hi"]))
            sg = "signed " if reg["signed"] else ""
            self.sig[reg["node"].name].width = cw
            for r in range(size):
                self.decl += [f"    reg  {sg}[{cw - 1}:0] {q}_q{r};", f"    wire {sg}[{cw - 1}:0] {q}_now{r};"]
                self.emit(f"    assign {q}_now{r} = {fresh_now} ? {cnt.rows[r]} : {q}_q{r};",
                          "    always @(posedge clk) begin",
                          f"        if ({c}_srst) {q}_q{r} <= {cw}'d0;",
                          f"        else if {capture} {q}_q{r} <= {q}_now{r};",
                          "    end")

    def _op_dense_out(self, n) -> None:
        mode = n.params.get("mode")
        k = self.netlist.node(n.inputs[0])
        self.host = {"node": n.name, "input": k.name, "gain": np.asarray(n.arrays["gain"]).tolist(),
                     "bias": np.asarray(n.arrays["bias"]).tolist()}
        if mode == "counted":       # the step count of an up/down counter (already an output)
            if k.op != "updown_counter":
                raise _unsupported(n, f"counted head over a {k.op}")
            self.host.update(length=self.lengths[n.layer], formula="y = gain * (k / length) + bias")
            self.sig[n.name] = _Sig("host", [], 0)
            return
        if mode != "exact":
            raise _unsupported(n, f"mode {mode!r}")
        self.host["formula"] = "y = gain * k + bias"
        ks = self.sig[k.name]
        self.outputs.append({"node": k.name, "width": ks.width, "signed": True, "rows": list(ks.rows),
                             "ctl": self.ctl})
        self.sig[n.name] = _Sig("host", [], 0)

    # ------------------------------------------------------------------ top
    def _control(self, layer: str, k: int, lw: int) -> list[str]:
        prev = self.rec_layers[k - 1] if k else None
        launch = k + 1 < len(self.rec_layers)
        lines = _control_text(layer, k, prev, self.P, lw, launch, layer in self.step_rst_used)
        if self.lengths[layer] < self.P:
            lines.append(f"    wire {layer}_en = ({layer}_cyc < {lw}'d{self.lengths[layer]});   // L = "
                         f"{self.lengths[layer]} active cycles of the {self.P}-cycle step; then its sources, FSMs and "
                         "counters hold")
        return lines

    def top_text(self) -> str:
        ports = [f"    output wire [{len(o['rows']) * o['width'] - 1}:0] o_{_ident(o['node'])}" for o in self.outputs]
        assigns = []
        for o in self.outputs:
            w = o["width"]
            for r, e in enumerate(o["rows"]):
                assigns.append(f"    assign o_{_ident(o['node'])}[{r * w + w - 1}:{r * w}] = {e};")
        lw = counter_width(self.P)
        lens = ", ".join(f"{k} L = {v}" for k, v in self.lengths.items())
        head = [
            f"// {self.top}: generated by sccompiler.backends.verilog.design from the compiled design",
            f"// '{self.design.model.name}' (layer {self.layer}; {lens}; {self.P} cycles per time step).",
            "// Synthesizable Verilog-2005.  Protocol: pulse start (with n_steps >= 1) to run a sequence from",
            "// reset; hold x_in at the input of step x_step while busy; valid marks the cycle where o_* hold",
            "// the values of step out_step; done rises after the last step.  docs/verilog.md, 'Designs'.",
            f"module {self.top} (",
            "    input  wire clk,",
            "    input  wire rst,",
            "    input  wire start,",
            f"    input  wire [{STEP_BITS - 1}:0] n_steps,",
            (f"    input  wire [{2 * self.in_size - 1}:0] x_in,   // feature j: [2j] nonzero, [2j+1] positive"
             if self.x_format == "tern" else
             f"    input  wire [{self.x_width - 1}:0] x_in,   // the token id (< {self.vocab})"
             if self.x_format == "token" else
             f"    input  wire [{self.x_width * self.in_size - 1}:0] x_in,   // feature j: its SNG threshold X at "
             f"[{self.x_width}j +: {self.x_width}]"),
            "    output wire busy,",
            "    output wire done,",
            f"    output wire [{STEP_BITS - 1}:0] x_step,",
            "    output wire valid,",
            f"    output wire [{STEP_BITS - 1}:0] out_step,",
            *[f"    output wire valid_{layer},\n    output wire [{STEP_BITS - 1}:0] out_step_{layer},"
              for layer in self.rec_layers[:-1]],
            ",\n".join(ports),
            ");",
        ]
        for k, layer in enumerate(self.rec_layers):
            head += self._control(layer, k, lw)
        head += [
            f"    assign busy = {self.rec_layers[0]}_busy;",
            f"    assign x_step = {self.rec_layers[0]}_step;",
            f"    assign valid = {self.layer}_valid;",
            f"    assign out_step = {self.layer}_out_step;",
            f"    assign done = {self.layer}_done;",
            *[f"    assign valid_{layer} = {layer}_valid;\n    assign out_step_{layer} = {layer}_out_step;"
              for layer in self.rec_layers[:-1]],
        ]
        return "\n".join(head + self.decl + self.lines + [""] + assigns + ["endmodule", ""])


def _control_text(p: str, k: int, prev: str | None, L: int, lw: int, launch: bool, step_rst: bool) -> list[str]:
    """Control of recurrent layer ``p``: L cycles per step.  Layer 0 starts on ``start``; layer
    k + 1 when layer k finishes its step 0 (its step t runs during layer k's step t + 1); the
    last layer (``launch`` False) also drives ``done``."""
    lines = _control_lines(p, k, prev, L, lw, launch, step_rst)
    if launch:      # an inner layer: no done flag
        lines = [ln.replace(f" {p}_done <= 1'b0;", "").replace(f", {p}_done,", ",")
                 for ln in lines if f"if ({p}_flush) {p}_done" not in ln]
    return lines


def _control_lines(p: str, k: int, prev: str | None, L: int, lw: int, launch: bool, step_rst: bool) -> list[str]:
    go = "start" if prev is None else f"{prev}_launch"
    nsteps = "n_steps" if prev is None else f"{prev}_steps"
    S = STEP_BITS
    return [
        f"    // control of layer {p}: {p}_srst restarts its stream primitives ({'start' if prev is None else 'when ' + prev + ' finished step 0'}),",
        f"    // {p}_first = first cycle of a step, {p}_boundary = first cycle of a step >= 1 (previous step final)",
        f"    wire {p}_srst = rst | {go};",
        f"    reg  [{lw - 1}:0] {p}_cyc;",
        f"    reg  [{S - 1}:0] {p}_step;",
        f"    reg  [{S - 1}:0] {p}_steps;",
        f"    reg  {p}_busy, {p}_done, {p}_flush;",
        f"    wire {p}_first = {p}_busy && ({p}_cyc == {lw}'d0);",
        f"    wire {p}_boundary = {p}_first && ({p}_step != {S}'d0);",
        f"    wire {p}_valid = {p}_boundary || {p}_flush;",
        f"    wire [{S - 1}:0] {p}_out_step = {p}_step - {S}'d1;",
        *([f"    wire {p}_launch = {p}_busy && ({p}_cyc == {lw}'d{L - 1}) && ({p}_step == {S}'d0);"] if launch else []),
        *([f"    wire {p}_step_rst = {p}_srst | ({p}_busy && ({p}_cyc == {lw}'d{L - 1}));   // FSMs with state_policy reset"]
          if step_rst else []),
        "    always @(posedge clk) begin",
        "        if (rst) begin",
        f"            {p}_busy <= 1'b0; {p}_done <= 1'b0; {p}_flush <= 1'b0; {p}_cyc <= {lw}'d0; {p}_step <= {S}'d0; {p}_steps <= {S}'d0;",
        *([] if prev is None else [
            "        end else if (start) begin      // a new sequence: idle until the previous layer launches it",
            f"            {p}_busy <= 1'b0; {p}_done <= 1'b0; {p}_flush <= 1'b0;"]),
        f"        end else if ({go}) begin",
        f"            {p}_busy <= ({nsteps} != {S}'d0); {p}_done <= 1'b0; {p}_flush <= 1'b0; {p}_cyc <= {lw}'d0; {p}_step <= {S}'d0;",
        f"            {p}_steps <= {nsteps};",
        "        end else begin",
        f"            {p}_flush <= 1'b0;",
        f"            if ({p}_flush) {p}_done <= 1'b1;",
        f"            if ({p}_busy) begin",
        f"                if ({p}_cyc == {lw}'d{L - 1}) begin",
        f"                    {p}_cyc <= {lw}'d0;",
        f"                    {p}_step <= {p}_step + {S}'d1;",
        f"                    if ({p}_step + {S}'d1 == {p}_steps) begin {p}_busy <= 1'b0; {p}_flush <= 1'b1; end",
        "                end else begin",
        f"                    {p}_cyc <= {p}_cyc + {lw}'d1;",
        "                end",
        "            end",
        "        end",
        "    end",
    ]


def _default_inputs(design, sequences: int, steps: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    port = design.netlist.node("model.input")
    if port.params.get("kind") == "tokens":
        vocab = next(n for n in design.netlist.nodes if n.op == "lookup").arrays["table"].shape[0]
        return rng.integers(0, vocab, size=(sequences, steps))
    x_node = next(n for n in design.netlist.nodes if n.op == "input" and n.params.get("source") == "model.input")
    scale = float(x_node.params.get("scale", 1.0))
    size = design.netlist.node("model.input").size
    return scale * rng.choice([-1.0, 0.0, 1.0], size=(sequences, steps, size))


def check_supported(design, top: str = "sc_design") -> None:
    """Raise UnsupportedOpError / ConfigError if :func:`emit_design` would refuse the design."""
    em = _Emitter(design, top)
    em.run()


def emit_design(design, outdir: str | Path, *, inputs: np.ndarray | None = None, top: str = "sc_design",
                sequences: int = 2, steps: int = 3, seed: int = 0, force: bool = False) -> dict[str, list[Path]]:
    """Write ``outdir/rtl`` and ``outdir/tb`` for ``design`` (see the module docstring).

    ``inputs`` (B, T, F) exact values for the testbench (default: ``sequences`` x ``steps`` random
    values in {-s, 0, s}).  Returns {"rtl": [...], "tb": [...]}.  Existing rtl/ or tb/ need ``force``.
    """
    from ...errors import OutputExistsError  # noqa: PLC0415
    import shutil  # noqa: PLC0415

    em = _Emitter(design, top)
    em.run()
    x = _default_inputs(design, sequences, steps, seed) if inputs is None else np.asarray(inputs)
    tokens = em.x_format == "token"
    if x.ndim != (2 if tokens else 3) or x.shape[1] < 1 or x.shape[1] >= (1 << STEP_BITS):
        raise SCValueError("inputs", f"must be ({'B, T' if tokens else 'B, T, F'}) with 1 <= T < {1 << STEP_BITS}, "
                                     f"got shape {x.shape}")
    if tokens and x.dtype.kind == "f" and np.all(np.isfinite(x)) and np.all(x == np.rint(x)):
        x = x.astype(np.int64)                           # ids saved as floats (e.g. a calibration .npy)
    if tokens and (x.dtype.kind not in "iu" or x.min() < 0 or x.max() >= em.vocab):
        raise SCValueError("inputs", f"token ids must be integers in [0, {em.vocab}), got {x.dtype} "
                                     f"in [{x.min()}, {x.max()}]")
    if not tokens:
        x = x.astype(np.float64)
    out = Path(outdir)
    for sub in ("rtl", "tb"):
        if (out / sub).exists():
            if not force:
                raise OutputExistsError(f"{out / sub} exists (use force / --force to overwrite)")
            shutil.rmtree(out / sub)
    tb_files = _testbench(design, em, x)          # runs the runtime: fails before anything is written
    rtl = out / "rtl"
    rtl.mkdir(parents=True)
    rtl_files = write_library(rtl, sorted(em.modules))
    (rtl / f"{top}.v").write_text(em.top_text())
    rtl_files.append(rtl / f"{top}.v")
    man = json.loads(tb_files["manifest.json"])
    man["rtl"] = [p.name for p in rtl_files]          # dependencies first, the top last
    tb_files["manifest.json"] = json.dumps(man, indent=1)
    tb = out / "tb"
    tb.mkdir()
    paths = []
    for name, text in tb_files.items():
        (tb / name).write_text(text)
        paths.append(tb / name)
    return {"rtl": rtl_files, "tb": paths}


def _testbench(design, em: _Emitter, x: np.ndarray) -> dict[str, str]:
    """Testbench + vectors; expected values from the runtime's trace (read only)."""
    rt = design._runtime()
    y, runs = rt.run(x, trace=True)
    B, T = x.shape[:2]
    F = x.shape[2] if x.ndim == 3 else 1
    trace = {}
    for run in runs.values():
        trace.update(run.trace)
    fields = []          # (label, node, neuron, width, signed, values (B, T))
    for o in em.outputs:
        v = np.asarray(trace[o["node"]])
        for r in range(len(o["rows"])):
            col = v[:, :, r]
            if o.get("sign"):
                col = (col > 0).astype(np.int64)
            fields.append((o["node"], r, o["width"], o["signed"], np.rint(col).astype(np.int64)))
    if em.host:                                    # the host affine reproduces simulate's output bit for bit
        k = np.asarray(trace[em.host["input"]], dtype=np.float64)
        if "length" in em.host:                    # counted: Runtime divides the count by L first
            k = k / em.host["length"]
        yy = np.asarray(em.host["gain"]) * k + np.asarray(em.host["bias"])
        if not np.array_equal(yy, y):
            raise SCValueError("design", "the dense head's host affine does not reproduce simulate()")
    in_words = []
    if em.x_format == "token":
        codes = x.reshape(B * T, 1).tolist()
    elif em.x_format == "tern":
        xin = np.rint(x / em.in_scale).astype(np.int64)
        codes = [[(int(v) != 0) | (int(v) > 0) << 1 for v in row] for row in xin.reshape(B * T, F)]
    else:                   # the input SNG bank's thresholds, as Runtime._sng computes them
        codes = np.stack([em._sng_thresholds(em.x_sng, x[:, t], t)[:, :F] for t in range(T)],
                         axis=1).reshape(B * T, F).tolist()
    for row in codes:
        w = 0
        for j, v in enumerate(row):
            w |= int(v) << (em.x_width * j)
        in_words.append(f"{w:x}")
    exp_words = []
    total = sum(f[2] for f in fields)
    for b in range(B):
        for t in range(T):
            w, sh = 0, 0
            for _, _, width, _, vals in fields:
                w |= (int(vals[b, t]) & ((1 << width) - 1)) << sh
                sh += width
            exp_words.append(f"{w:x}")
    top = em.top
    tbn = f"{top}_tb"
    lines = [
        f"// {tbn}: self-checking testbench of {top} (simulation only; generated by",
        "// sccompiler.backends.verilog.design).  Expected values: the design's runtime (CompiledDesign.simulate).",
        f"module {tbn} #(parameter integer FINISH = 1) (input wire clk);",
        "    // FINISH = 0: set finished instead of calling $finish (several testbenches in one simulation)",
        *testbench_vectors(tbn, B, T, (B * (T + len(em.rec_layers) + 1) * em.P + 10 * B + 10),
                           em.x_width * em.in_size, total),
        f"    wire [{STEP_BITS - 1}:0] n_steps = {STEP_BITS}'d{T};",
    ]
    # per recurrent layer: its valid / out_step (the last layer's are the top's valid / out_step)
    timing = {}
    conns = []
    for layer in em.rec_layers:
        if layer == em.layer:
            timing[layer] = ("valid", "out_step", "exp_now")
            continue
        lines += [f"    wire valid_{layer};", f"    wire [{STEP_BITS - 1}:0] out_step_{layer};",
                  f"    wire [{total - 1}:0] exp_now_{layer} = exp_mem[seq * T + (out_step_{layer} < T ? "
                  f"out_step_{layer} : 0)];"]
        conns += [f".valid_{layer}(valid_{layer})", f".out_step_{layer}(out_step_{layer})"]
        timing[layer] = (f"valid_{layer}", f"out_step_{layer}", f"exp_now_{layer}")
    for o in em.outputs:
        name = f"o_{_ident(o['node'])}"
        lines.append(f"    wire [{len(o['rows']) * o['width'] - 1}:0] {name};")
        conns.append(f".{name}({name})")
    lines.append(f"    {top} dut (.clk(clk), .rst(rst), .start(start), .n_steps(n_steps), .x_in(x_in), .busy(busy), "
                 f".done(done), .x_step(x_step), .valid(valid), .out_step(out_step), {', '.join(conns)});")
    lines.append(f"    wire [{total - 1}:0] exp_now = exp_mem[seq * T + (out_step < T ? out_step : 0)];")
    checks: dict[str, list[str]] = {layer: [] for layer in em.rec_layers}
    sh = 0
    for node, r, width, signed, _ in fields:
        o = next(o for o in em.outputs if o["node"] == node)
        _, out_step, exp_now = timing[o["ctl"]]
        got = f"o_{_ident(node)}[{r * width + width - 1}:{r * width}]"
        exp = f"{exp_now}[{sh + width - 1}:{sh}]"
        sh += width
        fmt_g = f"$signed({got})" if signed else got
        fmt_e = f"$signed({exp})" if signed else exp
        layer = design.netlist.node(node).layer
        what = node + (" (h: 1 = +1, 0 = -1)" if o.get("sign") else "")
        checks[o["ctl"]] += [
            f"            if ({got} !== {exp}) begin",
            f"                if (errors < {MAX_REPORTED}) $display(\"MISMATCH seq=%0d step=%0d layer={layer} "
            f"node={what} neuron={r} expected=%0d got=%0d\", seq, {out_step}, {fmt_e}, {fmt_g});",
            "                errors = errors + 1;",
            "            end",
        ]
    lines += [
        "    always @(posedge clk) begin",
        "        cyc <= cyc + 1;",
        "        if (cyc == 0) rst <= 1'b0;",
        "        start <= (cyc == 1) || (done && !start && seq + 1 < B && seen == T);",
        *[line for layer in em.rec_layers if layer != em.layer
          for line in [f"        if ({timing[layer][0]}) begin", *checks[layer], "        end"]],
        "        if (valid) begin",
        "            seen = seen + 1;",
        *checks[em.layer],
        "        end",
        *testbench_ending(top, tbn),
    ]
    manifest = {"top": top, "testbench": tbn, "layer": em.layer, "length": em.P, "lengths": em.lengths,
                "cycles_per_step": em.P, "sequences": B, "steps": T,
                "checks": [{"node": f[0], "neuron": f[1], "width": f[2], "signed": f[3]} for f in fields],
                "host_affine": em.host or None, "input_port": _port_doc(em)}
    return {f"{tbn}.v": "\n".join(lines), f"{tbn}_in.hex": "\n".join(in_words) + "\n",
            f"{tbn}_exp.hex": "\n".join(exp_words) + "\n", "manifest.json": json.dumps(manifest, indent=1)}


def testbench_vectors(tbn: str, B: int, T: int, timeout: int, x_bits: int, exp_bits: int) -> list[str]:
    """The declarations of a design testbench: B sequences x T steps of input words (x_bits) and
    expected words (exp_bits) read with $readmemh, the counters, the DUT's handshake wires and
    ``x_in`` = the word of step x_step.  Shared by the SC and the fixed-point testbenches."""
    return [
        "    reg finished;",
        "    initial finished = 1'b0;",
        f"    localparam integer B = {B};",
        f"    localparam integer T = {T};",
        f"    localparam integer TIMEOUT = {timeout};",
        f"    reg [{x_bits - 1}:0] x_mem [0:B*T-1];",
        f"    reg [{exp_bits - 1}:0] exp_mem [0:B*T-1];",
        f"    initial $readmemh(\"{tbn}_in.hex\", x_mem);",
        f"    initial $readmemh(\"{tbn}_exp.hex\", exp_mem);",
        "    integer cyc, seq, errors, seen;",
        "    reg rst, start;",
        "    initial begin cyc = 0; seq = 0; errors = 0; seen = 0; rst = 1'b1; start = 1'b0; end",
        "    wire busy, done, valid;",
        f"    wire [{STEP_BITS - 1}:0] x_step, out_step;",
        f"    wire [{x_bits - 1}:0] x_in = x_mem[seq * T + (x_step < T ? x_step : 0)];",
    ]


def testbench_ending(top: str, tbn: str) -> list[str]:
    """The end of a design testbench's clocked block: after the last expected step of the last
    sequence print PASS / FAIL (or FAIL timeout), then the Icarus clock wrapper ``<tbn>_run``.
    Shared by the SC and the fixed-point testbenches (same protocol: start, done, valid)."""
    return [
        "        if (done && !start && seen == T && !finished) begin",
        "            if (seq + 1 < B) begin seq = seq + 1; seen = 0; end",
        "            else begin",
        f"                if (errors == 0) $display(\"PASS {top}: %0d sequences x %0d steps, every value bit-exact\", B, T);",
        "                else $display(\"FAIL mismatches=%0d\", errors);",
        "                finished <= 1'b1;",
        "                if (FINISH != 0) $finish;",
        "            end",
        "        end",
        "        if (cyc > TIMEOUT && !finished) begin",
        "            $display(\"FAIL timeout (no done)\");",
        "            finished <= 1'b1;",
        "            if (FINISH != 0) $finish;",
        "        end",
        "    end",
        "endmodule",
        "",
        "`ifndef VERILATOR",
        f"module {tbn}_run;",
        "    reg clk;",
        "    initial clk = 1'b0;",
        "    always #5 clk = ~clk;",
        f"    {tbn} tb (.clk(clk));",
        "endmodule",
        "`endif",
        "",
    ]


def _port_doc(em: _Emitter) -> dict:
    """How the host drives x_in (the manifest's ``input_port``)."""
    if em.x_format == "token":
        return {"format": "token", "bits": em.x_width, "vocabulary": em.vocab,
                "encoding": "the token id; the embedding table is in ROMs"}
    if em.x_format == "tern":
        return {"format": "exact", "bits_per_feature": 2, "scale": em.in_scale,
                "encoding": "bit 0: x != 0, bit 1: x > 0 (x in {-scale, 0, +scale})"}
    n = em.x_sng
    doc = {"format": "thresholds", "bits_per_feature": em.x_width, "sng": n.name, "encoding": n.encoding,
           "formula": "X = threshold(x / scale) of the SNG bank (Runtime._sng), held during the step"}
    if "gain" in n.arrays:
        doc["formula"] = "X_t = threshold(x * gain[min(t, T - 1)]) (the per-step input gain of batch norm)"
        doc["gain"] = np.asarray(n.arrays["gain"])[:, 0].tolist()
    else:
        doc["scale"] = float(n.params.get("scale", 1.0))
    return doc


def verify_design(outdir: str | Path, simulator: str = "icarus"):
    """Build and run OUTDIR/tb against OUTDIR/rtl; returns (passed, SimResult)."""
    from .tools import simulate  # noqa: PLC0415

    out = Path(outdir)
    man_path = out / "tb" / "manifest.json"
    if not man_path.is_file():
        from ...errors import ModelFormatError  # noqa: PLC0415

        raise ModelFormatError(f"{out}: no tb/manifest.json (compile with --emit verilog first)")
    man = json.loads(man_path.read_text())
    sources = [out / "rtl" / f for f in man["rtl"]] + [out / "tb" / f"{man['testbench']}.v"]
    res = simulate(sources, man["testbench"], simulator=simulator, run_dir=out / "tb")
    return res.passed and "MISMATCH" not in res.stdout, res


def verify_designs(outdirs: list[str | Path], simulator: str = "icarus",
                   run_dir: str | Path | None = None) -> tuple[dict[str, bool], Any]:
    """Co-simulate several emitted designs in ONE build (one Verilator compile instead of one per
    design): their tops must have distinct names (``emit_design(..., top=...)``); the library
    modules they share are identical by construction (checked).  Every testbench runs with
    ``FINISH = 0`` under a generated wrapper that stops when all have finished.  Returns
    ({top: passed}, SimResult); a top passes when its testbench printed its PASS line."""
    import shutil  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from .tools import simulate  # noqa: PLC0415

    mans = []
    for d in outdirs:
        path = Path(d) / "tb" / "manifest.json"
        if not path.is_file():
            from ...errors import ModelFormatError  # noqa: PLC0415

            raise ModelFormatError(f"{d}: no tb/manifest.json (emit the design first)")
        mans.append((Path(d), json.loads(path.read_text())))
    tops = [m["top"] for _, m in mans]
    if len(set(tops)) != len(tops):
        raise SCValueError("outdirs", f"the designs' tops must have distinct names, got {tops}")
    with tempfile.TemporaryDirectory(prefix="scc-designs-") as tmp:
        work = Path(run_dir) if run_dir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        sources: dict[str, Path] = {}
        for d, man in mans:
            for name in man["rtl"]:
                f = d / "rtl" / name
                if name in sources and sources[name].read_text() != f.read_text():
                    raise SCValueError("outdirs", f"{name} differs between {sources[name]} and {f}")
                sources.setdefault(name, f)
            for f in (d / "tb").iterdir():
                if f.suffix == ".hex":
                    shutil.copyfile(f, work / f.name)
        wrapper = work / "sc_designs_tb.v"
        done = " && ".join(f"u{k}.finished" for k in range(len(mans)))
        wrapper.write_text("\n".join([
            "// several design testbenches in one simulation (generated by design.verify_designs)",
            "module sc_designs_tb (input wire clk);",
            *[f"    {man['testbench']} #(.FINISH(0)) u{k} (.clk(clk));" for k, (_, man) in enumerate(mans)],
            f"    always @(posedge clk) if ({done}) $finish;",
            "endmodule", ""]))
        files = list(sources.values()) + [d / "tb" / f"{m['testbench']}.v" for d, m in mans] + [wrapper]
        res = simulate(files, "sc_designs_tb", simulator=simulator, run_dir=work)
    lines = res.stdout.splitlines()
    # a testbench prints its PASS line only with zero mismatches of its own
    return {top: any(ln.startswith(f"PASS {top}:") for ln in lines) for top in tops}, res


def _analytic_cost(outdir: Path) -> dict | None:
    """The compiler's analytic cost of the SC design (OUTDIR/report.json, written by
    ``CompiledDesign.save`` / ``scc compile -o OUTDIR``), or None."""
    rep = outdir / "report.json"
    if not rep.is_file():
        return None
    try:
        cost = json.loads(rep.read_text()).get("cost") or {}
        c = cost["designs"][cost["sc"]]["cost"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return None
    return {"design": cost["sc"], "flip_flops": c.get("flip_flops"), "gate_equivalents": c.get("gate_equivalents"),
            "area": c.get("area"), "area_unit": c.get("area_unit"), "rng_count": c.get("rng_count"),
            "sng_count": c.get("sng_count"), "target": c.get("target")}


def synthesize_design(outdir: str | Path, *, write: bool = True, timeout: float = 3600.0):
    """Synthesize OUTDIR/rtl with Yosys (``synth -flatten``, ``stat``, ``stat -tech cmos``; the log
    is read from its file) and return its :class:`~.tools.SynthStats`.  With ``write`` the
    numbers (+ the compiler's analytic estimate from OUTDIR/report.json, when there) are written
    atomically to OUTDIR/synth.json (replacing an older one: it describes the current rtl/)."""
    from ...errors import ModelFormatError  # noqa: PLC0415
    from ...io import atomic_file  # noqa: PLC0415
    from .tools import yosys_synth  # noqa: PLC0415

    out = Path(outdir)
    man_path = out / "tb" / "manifest.json"
    if not man_path.is_file():
        raise ModelFormatError(f"{out}: no tb/manifest.json (compile with --emit verilog first)")
    man = json.loads(man_path.read_text())
    stats = yosys_synth([out / "rtl" / f for f in man["rtl"]], man["top"], timeout=timeout)
    if write:
        with atomic_file(out / "synth.json", force=True) as fh:
            json.dump(synth_summary(stats, out), fh, indent=1)
    return stats


def synth_summary(stats, outdir: str | Path | None = None) -> dict:
    """JSON-ready Yosys numbers of a design (+ the analytic estimate when OUTDIR has a report)."""
    return {"top": stats.top, "tool": "yosys", "cells": stats.cells, "flip_flops": stats.flip_flops,
            "transistors": stats.transistors, "transistors_lower_bound": stats.transistors_lower_bound,
            "transistors_note": ("Yosys's CMOS table has no flip-flop cost: the estimate covers combinational "
                                 "cells only" if stats.transistors_lower_bound else ""),
            "cell_types": dict(stats.cell_types),
            "analytic": _analytic_cost(Path(outdir)) if outdir is not None else None}
