"""The SC design emitter's core: the state of one top module being written from an already
lowered SC netlist, the helpers every op handler shares (LFSR instances, clock-enabled steps,
constant tables, per-step table indices, SNG thresholds), and the walk that dispatches each
netlist node to its handler (:mod:`.ops`, one function per ``node.op``).

The top module's ports and control are written by :mod:`.top` once the walk is done; the
testbench by :mod:`.testbench`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...cost.timing import sequential_head
from ...errors import UnsupportedOpError
from ...sim.primitives import counter_width
from ...sim.rules import unsigned_width
from ...sim.sources import check_seed, sobol_direction_count, sobol_directions
from .library import lfsr_module_name
from .names import NameTable, comment_text
from .verilog_text import Decl, VerilogModule

#: step counter / n_steps port width
STEP_BITS = 16
#: largest threshold-ROM address (entries = 2^bits per SNG row): a GRU's n-gate table reads four
#: pre-activations; beyond this the ROM constants and their logic cones get unwieldy
MAX_ROM_ADDRESS_BITS = 16


def unsupported(n, detail: str = "") -> UnsupportedOpError:
    """The refusal of node ``n`` (its op and name), with what is missing."""
    return UnsupportedOpError(n.op, n.name, "Verilog emission does not support it yet"
                              + (f" ({detail})" if detail else ""))


@dataclass
class Signal:
    """Hardware representation of a node.  kind: 'tern' (nz/pos bit vectors), 'word' (signed
    per-row integers), 'bits' (per-element stream bits), 'int' (per-row integral APC values),
    'count' (per-row step count of a counter), 'cval' / 'cval_step' (a decoded count), 'port' /
    'token' / 'real' / 'embed' / 'real_embed' (model inputs), 'gate' (a gate table), 'host'."""

    kind: str
    rows: list[str] = field(default_factory=list)     # per-element Verilog expressions
    width: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


class DesignEmitter:
    """One generated top: ``decls`` and ``body`` collect the node blocks, ``sig`` maps node
    names to their :class:`Signal`, and ``outputs`` / ``host`` / ``registers`` record what the
    top, the testbench and the manifest need."""

    def __init__(self, design, top: str) -> None:
        from ...runtime.engine import Runtime  # noqa: PLC0415

        self.design = design
        self.netlist = design.netlist
        self.top = top
        self.rt = Runtime(self.netlist)
        src = self.netlist.sources
        if src.get("kind", "lfsr") not in ("lfsr", "sobol", "auto"):
            raise UnsupportedOpError("sources", None, f"Verilog emission needs LFSR or Sobol sources, "
                                     f"got {src.get('kind')!r}")
        if not src.get("registers") and any(n.op in ("sng", "wfsm") for n in self.netlist):
            raise UnsupportedOpError("sources", None, "the design has no allocated source registers")
        self.module = VerilogModule(top)
        # sections in the order of the module text: control first (written last, by .top)
        self.control = self.module.section("control")
        self.decls = self.module.section("declarations")
        self.body = self.module.section("body")
        self.sig: dict[str, Signal] = {}
        self.modules: set[str] = set()
        self.outputs: list[dict] = []     # checked quantities: node, kind, width, signed, rows
        self.host: dict[str, Any] = {}
        self.registers: list[dict] = []
        self.step_rst_used: set[str] = set()
        self.deferred: list = []          # blocks that need a later node's widths (state ROMs)
        self.tsels: set[str] = set()      # per-step table index signals emitted so far
        self.source_wires: set[int] = set()   # source registers instantiated so far
        self.sobol_sels: set[str] = set()     # layers whose Sobol direction select exists
        self.unread: list[tuple[str, str]] = []   # (expression, why) no comparator reads
        self.register_bits_used = used_register_bits(self.netlist)
        #: every layer / node name reaching the RTL goes through this table (names.py)
        self.names = NameTable.for_netlist(self.netlist)
        self.check_layers()

    # ------------------------------------------------------------------ support check
    def check_layers(self) -> None:
        from .ops.sequence import bidirectional_schedule  # noqa: PLC0415  (ops import this module)

        #: a bidirectional layer's schedule (forward, backward, read-out; ops/sequence.py), or None
        self.bidir = bidirectional_schedule(self.netlist)
        layers = [p for p in self.netlist.layers if p.kind != "concat"]
        # a leading embedding: token ids on the port, its table in ROMs of the first layer's operands
        self.embedding = layers.pop(0) if len(layers) > 1 and layers[0].kind == "embedding" else None
        rec = [p for p in layers if p.kind in ("lstm", "gru")]
        kinds = ", ".join(f"{p.name} ({p.kind})" for p in layers)
        if not rec or layers[0] is not rec[0]:
            raise UnsupportedOpError(layers[0].kind, layers[0].name, "Verilog emission supports LSTM/GRU layers first "
                                     f"(after an optional embedding; + a dense head) yet; this design has {kinds}")
        tail = layers[len(rec):]
        # a sequence-level head: a last_step layer, then (optionally) the dense head, run once per
        # sequence after the last recurrent layer's last step
        self.last_step = tail.pop(0) if tail and tail[0].kind == "last_step" else None
        for k, p in enumerate(layers[:len(rec)]):
            if p.kind not in ("lstm", "gru"):
                raise UnsupportedOpError(p.kind, p.name, "Verilog emission supports LSTM/GRU layers (+ a dense "
                                         f"head) yet; this design has {kinds}")
            if p.options.hidden in ("sign", "ternary") and p.options.gate_input != "table":
                raise UnsupportedOpError(p.kind, p.name, f"Verilog emission supports hidden: {p.options.hidden} "
                                         f"with gate_input: table yet, got {p.options.gate_input!r} "
                                         f"(--set {p.name}.gate_input=table)")
        for k, p in enumerate(tail):
            if p.kind != "dense" or k != len(tail) - 1:
                raise UnsupportedOpError(p.kind, p.name, "Verilog emission supports only a dense head (exact, "
                                         "streamed or fixed-point, optionally on the last time step) after the "
                                         f"recurrent layers yet (got {p.kind})")
        #: layers that run once per sequence (after the last_step layer) and whether there are any
        self.sequence_layers = ({self.last_step.name} | {p.name for p in tail}) if self.last_step else set()
        self.per_sequence = self.last_step is not None
        # timed layers (own control, L cycles per step): the LSTMs and a streamed dense head
        # (a dense head with a stream length: streamed, or a fixed-point head over stream counts)
        self.rec_layers = [p.name for p in rec] + [p.name for p in tail if int(p.length) > 0]
        self.layer = self.rec_layers[-1]
        #: layers with their own valid_<layer> / out_step_<layer> ports: the timed layers before the
        #: last -- and the last one too when an exact head on the last step owns the final valid
        self.inner_layers = self.rec_layers[:-1] if not self.per_sequence or self.layer in self.sequence_layers \
            else list(self.rec_layers)
        #: node name -> the node whose signal it is (a last_step node is its input's wires)
        self.alias: dict[str, str] = {}
        # every timed layer steps with one period P = the longest L (the layers run in lock step,
        # one step apart); a layer with a shorter L runs its L cycles, then holds its sources,
        # FSMs and counters (clock enable <layer>_en) for the remaining P - L cycles
        self.lengths = {p.name: int(p.length) for p in layers if p.name in self.rec_layers}
        self.P = max(self.lengths.values())
        b = self.bidir
        if b is not None:
            if self.embedding is not None or [p.name for p in rec[:2]] != [b.forward, b.reverse]:
                raise UnsupportedOpError(f"bidirectional {rec[0].kind.upper()}", b.forward, "Verilog emission "
                                         "supports a bidirectional layer as the first layer (no embedding) yet")
            if b.readout:           # no timed layer after the concat: the read-out has its own control
                k = self.rec_layers.index(b.reverse) + 1
                self.rec_layers.insert(k, b.concat)
                self.lengths = dict(list(self.lengths.items())[:k] + [(b.concat, self.P)]
                                    + list(self.lengths.items())[k:])
                if b.once:
                    self.sequence_layers.add(b.concat)
                self.layer = self.rec_layers[-1]
                self.inner_layers = self.rec_layers[:-1]
        #: a sequential fixed-point head (layer, H, once): its MAC control owns valid / out_step /
        #: done; every timed layer reports on its own valid_<layer> port, and a head per step
        #: stretches the step period to H when that is longer (cost/timing.py)
        self.seq_head = sequential_head(self.netlist)
        self.seq_mac: dict | None = None
        if self.seq_head is not None:
            if b is not None:
                raise UnsupportedOpError("int_mac", self.seq_head[0], "Verilog emission of a sequential fixed-point "
                                         "head (head_macs) after a bidirectional layer is not built yet")
            self.inner_layers = list(self.rec_layers)
            if not self.seq_head[2]:
                self.P = max(self.P, self.seq_head[1])
        self.ctl = self.rec_layers[0]

    # ------------------------------------------------------------------ shared helpers
    #: the input port's name in node expressions: ``x_in``, or the input buffer's read wire while the
    #: walk is in a bidirectional layer's backward direction
    port = "x_in"

    def port_expr(self, expr: str) -> str:
        """``expr`` (over ``x_in``) as the current layer reads it."""
        return expr if self.port == "x_in" else expr.replace("x_in", self.port)

    @property
    def idles(self) -> bool:
        """True when the current layer's L is shorter than the step period (it has idle cycles)."""
        return self.lengths[self.ctl] < self.P

    @property
    def c(self) -> str:
        """The Verilog identifier of the current layer (the prefix of its control signals)."""
        return self.names.layer(self.ctl)

    def vid(self, layer: str) -> str:
        """The Verilog identifier of layer ``layer``."""
        return self.names.layer(layer)

    def nid(self, node: str) -> str:
        """The Verilog identifier of netlist node ``node``."""
        return self.names.node(node)

    @property
    def Lc(self) -> int:
        """L of the current layer."""
        return self.lengths[self.ctl]

    def comparator_random(self, n, idx: int) -> str | None:
        """The b-bit random number comparator ``idx`` of node ``n`` reads (docs/semantics.md §2.4):
        its taps of one source register's state, the register instantiated on first use (reset and
        clock-enabled by the current layer); None for a pruned comparator."""
        reg = int(np.asarray(n.arrays["src"]).reshape(-1)[idx])
        if reg < 0:
            return None
        taps = [int(t) for t in np.asarray(n.arrays["taps"]).reshape(n.size, -1)[idx]]
        state = self.source_register(reg)
        if taps == list(range(taps[0], taps[0] + len(taps))):
            return f"{state}[{taps[-1]}:{taps[0]}]"
        return "{" + ", ".join(f"{state}[{t}]" for t in reversed(taps)) + "}"

    def source_register(self, k: int) -> str:
        """The state wire of source register ``k`` (a leap-forward LFSR of its width, instantiated
        once); bits no comparator reads are waived for Verilator."""
        wire = f"src{k}_s"
        if k in self.source_wires:
            return wire
        reg = self.netlist.sources["registers"][k]
        width, seed = int(reg["width"]), int(reg["seed"])
        if reg["layer"] != self.ctl:
            raise UnsupportedOpError("sources", None,
                                     f"source register {k} of layer {reg['layer']!r} read by {self.ctl!r}")
        if reg.get("kind", "lfsr") == "sobol":
            return self.sobol_register(k, reg)
        check_seed(seed, width)
        mod = lfsr_module_name(width, width, enable=self.idles)
        self.modules.add(mod)
        used = self.register_bits_used.get(k, set())
        self.decls.wire(wire, width, unused=None if len(used) == width else
                        f"bits {width - len(used)} of {width} of this register feed no comparator")
        ports = [("clk", "clk"), ("rst", f"{self.c}_srst")] + ([("en", f"{self.c}_en")] if self.idles else [])
        self.body.instance(mod, f"src{k}_u_lfsr", [("SEED", f"{width}'h{seed:x}"), ("N", width)],
                           ports + [("r", wire)])
        self.source_wires.add(k)
        return wire

    def sobol_register(self, k: int, reg: dict) -> str:
        """The state wire of Sobol register ``k`` (docs/semantics.md §2.5): an ``sc_sobol`` of its
        width with its dimension's direction numbers, fed by the layer's one ``sc_sobol_sel``
        (trailing ones of the layer's cycle counter), restarted by ``<layer>_step_rst``."""
        wire = f"src{k}_s"
        width, dim, shift = int(reg["width"]), int(reg["dim"]), int(reg["seed"])
        m = sobol_direction_count(self.Lc)
        sel = f"{self.c}_sobol_sel"
        if self.ctl not in self.sobol_sels:
            self.modules.add("sc_sobol_sel")
            self.decls.wire(sel, m)
            if m > counter_width(self.P):
                raise UnsupportedOpError("sources", None, f"{m} Sobol directions exceed the cycle counter")
            self.body.instance("sc_sobol_sel", f"{self.c}_u_sobol_sel", [("M", m)],
                               [("cyc", f"{self.c}_cyc[{m - 1}:0]"), ("sel", sel)])
            self.sobol_sels.add(self.ctl)
        self.modules.add("sc_sobol")
        self.step_rst_used.add(self.ctl)
        dirs = sobol_directions(dim, width, m)
        packed = sum(v << (i * width) for i, v in enumerate(dirs))
        used = self.register_bits_used.get(k, set())
        self.decls.wire(wire, width, unused=None if len(used) == width else
                        f"bits {width - len(used)} of {width} of this register feed no comparator")
        self.body.comment(f"source register {k}: Sobol dimension {dim}, {width} bits, digital shift {shift}")
        self.body.instance("sc_sobol", f"src{k}_u_sobol",
                           [("N", width), ("M", m), ("SHIFT", f"{width}'h{shift:x}"),
                            ("V", f"{width * m}'h{packed:x}")],
                           [("clk", "clk"), ("restart", f"{self.c}_step_rst"),
                            ("en", f"{self.c}_en" if self.idles else "1'b1"), ("sel", sel), ("r", wire)])
        self.source_wires.add(k)
        return wire

    def held(self, d: str, width: int) -> str:
        """An integral step ``d`` (signed, ``width`` bits) that is 0 in the current layer's idle
        cycles (FSMs and up/down counters then keep their value)."""
        return f"({self.c}_en ? {d} : {width}'sd0)" if self.idles else d

    def rom(self, inst: str, addr: str, aw: int, table: list[int], dw: int) -> str:
        """A constant table ``data = table[addr]`` (entries beyond the table read 0) as a
        combinational ``case``: the most frequent entry is the default, so only the others are
        listed (thresholds saturate at 0 / 2^n over much of a table).  A case synthesizes to a
        small logic cone in Yosys and needs no generate loop (no unroll limits in Verilator)."""
        values = [int(v) & ((1 << dw) - 1) for v in table] + [0] * ((1 << aw) - len(table))
        freq = Counter(values)
        default = max(freq, key=lambda v: (freq[v], -v))
        data = f"{inst}_data"
        self.decls.reg(data, dw)
        self.body.comment(f"ROM {inst}: {1 << aw} entries of {dw} bits, default {default}")
        self.body.case_table(data, addr, [(f"{aw}'h{i:x}", f"{dw}'d{v}") for i, v in enumerate(values) if v != default],
                             f"{dw}'d{default}")
        return data

    def waive_unused(self, expr: str, why: str) -> None:
        """Waive Verilator's UNUSEDSIGNAL on the wire behind ``expr`` (a stream that no operand
        reads: its SNG stays, as in the netlist, and synthesis removes it); the first reason given
        is kept."""
        name = expr.split("[")[0]
        for d in self.decls.items:
            if isinstance(d, Decl) and d.kind in ("wire", "reg") and d.init is None and d.names[-1] == name \
                    and d.unused is None:
                d.unused = why

    def tsel(self, t_st: int, finished: bool = False) -> tuple[str | None, int]:
        """(signal, width) of the statistics row ``stats_row(step, t_st)`` (sim.rules) of the current layer:
        the index of the per-step table of the step being run -- or, with ``finished``, of the step
        whose result is final in the boundary / flush cycle (``out_step``: a value decided from a
        step's final count); (None, 0) when ``t_st`` is 1."""
        if t_st <= 1:
            return None, 0
        last = t_st - 1
        tw = unsigned_width(last)
        c = self.c
        step = f"{c}_out_step" if finished else f"{c}_step"
        name = f"{c}_{'o' if finished else ''}tsel{t_st}"
        if name not in self.tsels:
            self.tsels.add(name)
            self.decls.wire(name, tw)
            self.body.comment(f"per-step table index of {c}: min({step}, {last}) (steps past the last statistics "
                              "row use the last)")
            self.body.assign(name, f"({step} >= {STEP_BITS}'d{last}) ? {tw}'d{last} : {step}[{tw - 1}:0]")
        return name, tw

    def sng_thresholds(self, n, values: np.ndarray | None, t: int = 0, count: int = 1) -> np.ndarray:
        """Thresholds X (C, n.size) of the SNG bank ``n`` at step ``t`` for its input values
        (C, ...) -- or of its constants (``count`` rows) -- exactly as the runtime computes them."""
        from ...runtime.engine import sng_values  # noqa: PLC0415
        from ...sim.encoding import threshold  # noqa: PLC0415

        v = sng_values(n, values, t, count if values is None else values.shape[0])
        return threshold(v, n.params["bits"], n.encoding, n.name).reshape(v.shape[0], -1)

    def register_of(self, next_name: str, kind: str) -> dict | None:
        """The state register whose next value is node ``next_name`` (of ``kind``), if any."""
        next_name = self.alias.get(next_name, next_name)
        return next((r for r in self.registers if r["next"].name == next_name and r["kind"] == kind), None)

    # ------------------------------------------------------------------ the walk
    def run(self) -> None:
        from .ops import HANDLERS  # noqa: PLC0415  (the handlers import this module)

        for n in self.netlist.nodes:
            self.ctl = n.layer if n.layer in self.rec_layers else self.rec_layers[-1]
            if self.bidir is not None and n.layer == self.bidir.reverse and self.port == "x_in":
                from .ops.sequence import input_buffer  # noqa: PLC0415
                from .top import input_port  # noqa: PLC0415

                self.port = input_buffer(self, input_port(self)[0])
            elif self.bidir is not None and n.layer != self.bidir.reverse:
                self.port = "x_in"
            handler = HANDLERS.get(n.op)
            if handler is None:
                raise unsupported(n)
            self.body.blank()
            self.body.comment(f"IR node {comment_text(n.name)} ({n.op}, shape {list(n.shape)}, "
                              f"layer {comment_text(n.layer)})")
            handler(self, n)
        for block in self.deferred:
            block()
        for expr, why in self.unread:                # thresholds of pruned comparators, declared by now
            self.waive_unused(expr, why)
        for reg in self.registers:
            if reg.get("flag"):
                self.reset_flag(reg)
        out = self.netlist.node(self.alias.get(self.netlist.metadata["output"], self.netlist.metadata["output"]))
        if out.op not in ("dense_out", "decode"):
            raise unsupported(out, "design output")

    def reset_flag(self, reg: dict) -> None:
        """A register whose reset value is not what count 0 decodes to: a flag that it still holds
        that value (until its first capture), selecting the reset value's threshold."""
        q, c = reg["q"], reg["ctl"]
        self.decls.reg(f"{q}_at_reset", comment=f"{comment_text(reg['node'].name)} still holds its reset value")
        self.decls.wire(f"{q}_use_reset", init=f"{q}_at_reset && !({c}_boundary || {c}_flush)")
        self.body.comment(f"IR node {comment_text(reg['node'].name)}: reset-value flag (the fresh value bypasses it)")
        self.body.always("posedge clk", [
            f"if ({c}_srst) {q}_at_reset <= 1'b1;",
            f"else if ({c}_first || {c}_flush) {q}_at_reset <= ({q}_at_reset && !{c}_boundary && !{c}_flush);"])


def used_register_bits(netlist) -> dict[int, set[int]]:
    """Source register -> the state bits some comparator reads."""
    used: dict[int, set[int]] = {}
    for n in netlist:
        if "src" in n.arrays:
            src = np.asarray(n.arrays["src"]).reshape(-1)
            taps = np.asarray(n.arrays["taps"]).reshape(src.size, -1)
            for k, t in zip(src, taps):
                if k >= 0:
                    used.setdefault(int(k), set()).update(int(v) for v in t)
    return used
