"""Bidirectional layers in RTL: the three-phase schedule of docs/semantics.md ("Bidirectional
layers (sequence buffers)") over three register files of ``max_steps`` entries.

* **Forward phase**: the forward direction is layer 0 (its control starts on ``start``); in the
  first cycle of its step t the **input buffer** stores the ``x_in`` word of step t, and in its
  ``valid`` cycle (where h_t is final) the **forward buffer** stores h_t's codes at entry t.
* **Backward phase**: the backward direction is launched (its sources, FSMs and counters reset:
  ``<rev>_srst``) on the edge where the forward direction finishes its LAST step; its step k reads
  the input buffer's entry T - 1 - k in place of ``x_in`` (:func:`input_buffer`, the walk swaps
  the port, :attr:`DesignEmitter.port`), and its h after step k goes to entry T - 1 - k of the
  **backward buffer**.
* **Read-out**: the next timed layer (a forward layer, or a streamed head) is launched when the
  backward direction finishes its last step; its step t reads ``concat(forward[t], backward[t])``
  (t = T - 1 only, for a head on the last step); with no timed layer after the concat, the
  concat layer has a read-out control of its own (P cycles per step, ``valid`` at each step's
  end, once for a ``last_step``) that an exact head is read from.  The backward buffer bypasses
  the entry written in the same cycle (entry 0 is final in the backward flush cycle, which is
  the reader's first cycle).

A sequence longer than the buffers (``n_steps > max_steps``: the runtimes refuse it) is not run:
``overflow`` rises with ``done`` and nothing else moves (:mod:`..top`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ....errors import UnsupportedOpError
from ....ir.sc import refuse_final_state_heads
from ....sim.rules import unsigned_width
from ..emitter import STEP_BITS, DesignEmitter, Signal, unsupported
from ..verilog_text import INDENT, concat


@dataclass(frozen=True)
class BidirSchedule:
    """The bidirectional layer of a netlist as the RTL runs it."""

    forward: str
    reverse: str
    concat: str
    #: T_max: the depth of the three buffers
    max_steps: int
    #: a ``last_step`` directly after the concat: the read-out runs one step, t = T - 1
    once: bool
    #: no timed layer after the concat: the concat layer gets a read-out control of its own
    readout: bool


def bidirectional_schedule(netlist) -> BidirSchedule | None:
    """The :class:`BidirSchedule` of ``netlist`` (None without a bidirectional layer); refuses
    what the RTL does not build with one :class:`UnsupportedOpError`."""
    layers = list(netlist.layers)
    kinds = [p.kind for p in layers]
    if "concat" not in kinds:
        return None
    k = kinds.index("concat")
    cat = layers[k]
    if kinds.count("concat") > 1:
        raise UnsupportedOpError("concat", cat.name, "Verilog emission supports one bidirectional layer")
    if k < 2 or layers[k - 2].options.direction != "forward" or layers[k - 1].options.direction != "backward":
        raise UnsupportedOpError("concat", cat.name, "a concat layer must follow a bidirectional layer's forward "
                                 "and backward directions")
    fwd, rev = layers[k - 2], layers[k - 1]
    if int(fwd.length) != int(rev.length):
        raise UnsupportedOpError(f"bidirectional {fwd.kind.upper()}", fwd.name,
                                 f"Verilog emission needs one stream length for both directions, got "
                                 f"{int(fwd.length)} and {int(rev.length)} (--set {fwd.name}.length=L)")
    after = layers[k + 1:]
    refuse_final_state_heads(netlist)
    if not after:
        raise UnsupportedOpError(f"bidirectional {fwd.kind.upper()}", fwd.name, "Verilog emission needs a layer "
                                 "after a bidirectional layer (a dense head, a forward LSTM/GRU)")
    max_steps = int(cat.options.max_steps or 0)
    if not 1 <= max_steps < (1 << STEP_BITS):
        raise UnsupportedOpError("concat", cat.name, f"max_steps must be in [1, {(1 << STEP_BITS) - 1}], "
                                 f"got {max_steps}")
    return BidirSchedule(fwd.name, rev.name, cat.name, max_steps,
                         once=after[0].kind == "last_step",
                         readout=not any(p.length and int(p.length) > 0 for p in after))


def buffer_decl(em: DesignEmitter, name: str, width: int, depth: int, what: str) -> None:
    """A register file ``name[0:depth-1]`` of ``width``-bit entries (no reset: every entry a
    sequence reads was written earlier in that sequence)."""
    em.decls.line(f"{INDENT}reg  [{width - 1}:0] {name} [0:{depth - 1}];   // {what}")


def addr_bits(em: DesignEmitter) -> int:
    """Address bits of the buffers."""
    return unsigned_width(em.bidir.max_steps - 1)


def input_buffer(em: DesignEmitter, x_bits: int) -> str:
    """The input buffer (``x_in`` of forward step t at entry t) and its read port for the
    backward direction's step k (entry T - 1 - k); returns the read wire that replaces ``x_in``."""
    b, S = em.bidir, STEP_BITS
    F, R = em.vid(b.forward), em.vid(b.reverse)
    aw = addr_bits(em)
    mem, rd, addr = f"{F}_xbuf", f"{F}_xbuf_rd", f"{R}_xaddr"
    em.body.blank()
    em.body.comment(f"input buffer ({b.max_steps} entries): x_in of forward step t at entry t; the backward "
                    f"direction's step k reads entry T - 1 - k")
    buffer_decl(em, mem, x_bits, b.max_steps, "input buffer (sequence buffer 1 of 3)")
    em.decls.wire(addr, S, unused=f"its low {aw} bits address the buffer")
    em.decls.wire(rd, x_bits)
    em.body.always("posedge clk", [f"if ({F}_first) {mem}[{F}_step[{aw - 1}:0]] <= x_in;"])
    em.body.assign(addr, f"({R}_step < {R}_steps) ? {R}_steps - {S}'d1 - {R}_step : {S}'d0",
                   comment="clipped in the flush cycle")
    em.body.assign(rd, f"{mem}[{addr}[{aw - 1}:0]]")
    return rd


def _codes(s: Signal) -> tuple[list[str], int, bool]:
    """(fields, bits per row, has nz bits) of a direction's h: tern -> pos (+ nz unless every row's
    nz is the constant 1: sign(h)); cval -> the step counts."""
    if s.kind == "tern":
        nz = any(r != "1'b1" for r in s.rows)
        return list(s.extra["pos"]) + (list(s.rows) if nz else []), 1, nz
    return list(s.rows), s.width, False


def op_concat(em: DesignEmitter, n) -> None:
    b, S = em.bidir, STEP_BITS
    if b is None or n.layer != b.concat:
        raise unsupported(n, "a concat outside a bidirectional layer")
    F, R = em.vid(b.forward), em.vid(b.reverse)
    reader = em.vid(em.rec_layers[em.rec_layers.index(b.reverse) + 1])
    fs, rs = em.sig[n.inputs[0]], em.sig[n.inputs[1]]
    kinds = {fs.kind, rs.kind}
    if kinds not in ({"tern"}, {"cval_step"}):
        raise unsupported(n, f"directions' h of kinds {sorted(kinds)}")
    H = len(fs.rows)
    if len(rs.rows) != H or n.size != 2 * H:
        raise unsupported(n, "directions of different sizes")
    q = em.nid(n.name)
    aw = addr_bits(em)
    fcodes, w, nz = _codes(fs)
    rcodes, w2, nz2 = _codes(rs)
    if w != w2 or nz != nz2:
        raise unsupported(n, "directions with different h codes")
    width = len(fcodes) * w
    em.body.comment(f"sequence buffers ({b.max_steps} entries of {width} bits each): forward h_t at entry t, "
                    f"backward h after step k at entry T - 1 - k")
    buffer_decl(em, f"{F}_hbuf", width, b.max_steps, "forward buffer (sequence buffer 2 of 3)")
    buffer_decl(em, f"{R}_hbuf", width, b.max_steps, "backward buffer (sequence buffer 3 of 3)")
    for name, init in ((f"{F}_hnow", concat(fcodes)), (f"{R}_hnow", concat(rcodes))):
        em.decls.wire(name, width, init=init)
    em.decls.wire(f"{R}_hwa", S, init=f"{R}_steps - {S}'d1 - {R}_out_step")
    em.body.always("posedge clk", [f"if ({F}_valid) {F}_hbuf[{F}_out_step[{aw - 1}:0]] <= {F}_hnow;"])
    em.body.always("posedge clk", [f"if ({R}_valid) {R}_hbuf[{R}_hwa[{aw - 1}:0]] <= {R}_hnow;"])
    # the read-out step: the reader's step (the read-out control's finished step; T - 1 once)
    src = f"{R}_steps - {S}'d1" if b.once else f"{reader}_out_step" if b.readout else f"{reader}_step"
    em.decls.wire(f"{q}_ra", S)
    em.body.assign(f"{q}_ra", f"({src} < {R}_steps) ? {src} : {R}_steps - {S}'d1",
                   comment=f"read-out step of {reader} (clipped outside the sequence)")
    em.decls.wire(f"{q}_f", width)
    em.decls.wire(f"{q}_b", width)
    em.body.assign(f"{q}_f", f"{F}_hbuf[{q}_ra[{aw - 1}:0]]")
    em.body.assign(f"{q}_b", f"({R}_valid && {R}_hwa == {q}_ra) ? {R}_hnow : {R}_hbuf[{q}_ra[{aw - 1}:0]]",
                   comment="entry 0 is written in the reader's first cycle: bypassed")
    if fs.kind == "tern":
        pos = [f"{q}_{d}[{i}]" for d in "fb" for i in range(H)]
        nzs = [f"{q}_{d}[{H + i}]" for d in "fb" for i in range(H)] if nz else ["1'b1"] * (2 * H)
        em.sig[n.name] = Signal("tern", nzs, 1, {"pos": pos})
        em.registers.append({"node": n, "next": n, "counter": None, "q": q, "kind": "tern"})
        return
    regs = [em.register_of(n.inputs[k], "cval") for k in (0, 1)]
    if any(r is None or "cw" not in r for r in regs) or \
            len({(r["cw"], r["signed"], r["range"]) for r in regs}) != 1:
        raise unsupported(n, "directions' h counts of different widths")
    reg = regs[0]
    rows = []
    for d in "fb":
        for i in range(H):
            now = f"{q}_now{len(rows)}"
            em.decls.wire(now, w, signed=reg["signed"])
            em.body.assign(now, f"{q}_{d}[{i * w + w - 1}:{i * w}]")
            rows.append(now)
    dec = em.netlist.node(n.inputs[0])
    em.sig[n.name] = Signal("cval", rows, w, {"decode": dec, "q": q})
    # read only after both directions' values are final: never the registers' reset value
    em.registers.append({"node": n, "next": n, "counter": None, "q": q, "kind": "cval", "cw": w,
                         "signed": reg["signed"], "range": reg["range"], "ctl": reader, "no_reset": True})


HANDLERS = {"concat": op_concat}
