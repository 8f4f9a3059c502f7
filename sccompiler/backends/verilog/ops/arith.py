"""Op handlers of the stream arithmetic: XNOR gates and MUXes over bit streams, XNOR + APC banks
(``xnor_apc``, optionally gated by exact inputs' nonzero bits), APCs summing bit and integral
operands (``apc``), the sign flip of an integral value by a stream (``xnor_int``), and slices."""

from __future__ import annotations

import numpy as np

from ....sim.primitives import counter_width
from ....sim.rules import signed_width
from ..emitter import DesignEmitter, Signal, unsupported
from ..verilog_text import concat, sign_extend


def op_slice(em: DesignEmitter, n) -> None:
    s = em.sig[n.inputs[0]]
    a, b = n.params["rows"]
    if s.kind != "bits" or len(n.shape) != 1 or len(s.extra.get("shape", ())) != 1:
        raise unsupported(n, "slices of 2-D banks")
    em.body.comment(f"wires: rows [{a}, {b}) of {n.inputs[0]}")
    em.sig[n.name] = Signal("bits", s.rows[a:b], 1, {"shape": tuple(n.shape)})


def op_islice(em: DesignEmitter, n) -> None:
    s = em.sig[n.inputs[0]]
    a, b = n.params["rows"]
    if s.kind != "int":
        raise unsupported(n, f"a slice of a {s.kind} signal")
    em.body.comment(f"wires: rows [{a}, {b}) of {n.inputs[0]}")
    em.sig[n.name] = Signal("int", s.rows[a:b], s.width, dict(s.extra))


def op_xnor_apc(em: DesignEmitter, n) -> None:
    s = em.sig[n.inputs[0]]
    w = np.asarray(n.arrays["weights"])
    shape = tuple(s.extra.get("shape", ()))
    if s.kind != "bits" or w.ndim != 2 or not shape or shape[-1] != w.shape[1]:
        raise unsupported(n, "operand shapes")
    if len(shape) == 2:
        # (G, M) banks: rows of gate k read bank k ("groups", per-gate SNGs); (R, M): row r
        # reads its own M streams (per-row input gains)
        groups = int(n.params.get("groups", shape[0]))
        if groups != shape[0] or w.shape[0] % groups:
            raise unsupported(n, f"{shape[0]} operand banks for {w.shape[0]} rows in {groups} groups")
    elif "groups" in n.params:
        raise unsupported(n, "groups over a 1-D operand bank")
    per = w.shape[0] // shape[0] if len(shape) == 2 else w.shape[0]

    def operand(r: int, j: int) -> str:
        return s.rows[(r // per) * w.shape[1] + j] if len(shape) == 2 else s.rows[j]
    if not np.all(np.isin(w, (-1, 0, 1))):
        raise unsupported(n, "weights must be -1/0/+1")
    gate = None
    if n.params.get("gated"):
        # zero exact inputs switch their XNORs off: operand j is enabled by x's nonzero bit
        gate = em.sig[n.inputs[1]]
        if gate.kind != "tern" or len(gate.rows) != w.shape[1]:
            raise unsupported(n, f"gated by a {gate.kind} signal")
    m_max = int(np.max(np.count_nonzero(w, axis=1))) if w.size else 0
    dw = counter_width(max(m_max, 1)) + 1          # sc_apc_bipolar's d width for the widest row
    base = em.nid(n.name)
    read = {operand(r, j) for r in range(w.shape[0]) for j in range(w.shape[1]) if w[r, j] != 0}
    for e in s.rows:
        if e not in read:
            em.waive_unused(e, f"no nonzero weight of {n.name} reads it")
    out = []
    for r in range(w.shape[0]):
        active = [j for j in range(w.shape[1]) if w[r, j] != 0]
        p = f"{base}_r{r}"
        em.decls.wire(f"{p}_d", dw, signed=True)
        if not active:
            em.body.assign(f"{p}_d", f"{dw}'sd0", comment=f"row {r}: no active weight")
            out.append(f"{p}_d")
            continue
        m = len(active)
        wpos = sum(1 << k for k, j in enumerate(active) if w[r, j] > 0)
        ops = concat(operand(r, j) for j in active)
        dm = counter_width(m) + 1
        em.decls.wire(f"{p}_prod", m)
        em.decls.wire(f"{p}_dm", dm, signed=True)
        em.body.comment(f"row {r}: XNOR with the weight signs of operands {active} (zeros gated off), APC")
        em.body.instance("sc_xnor_array", f"{p}_u_xnor", [("K", m)], [("a", f"{m}'h{wpos:x}"), ("b", ops),
                                                                       ("y", f"{p}_prod")])
        if gate is None:
            em.body.instance("sc_apc_bipolar", f"{p}_u_apc", [("M", m)], [("bits", f"{p}_prod"), ("d", f"{p}_dm")])
        else:
            # d = 2 popcount(prod & en) - popcount(en), en_j = input j nonzero
            kw = counter_width(m)
            for sfx in ("en", "on"):
                em.decls.wire(f"{p}_{sfx}", m)
            em.decls.wire(f"{p}_non", kw)
            em.decls.wire(f"{p}_nen", kw)
            em.body.assign(f"{p}_en", concat(gate.rows[j] for j in active),
                           comment="operands whose exact input is nonzero")
            em.body.instance("sc_and_array", f"{p}_u_gate", [("K", m)], [("a", f"{p}_prod"), ("b", f"{p}_en"),
                                                                          ("y", f"{p}_on")])
            em.body.instance("sc_apc", f"{p}_u_non", [("M", m)], [("bits", f"{p}_on"), ("k", f"{p}_non")])
            em.body.instance("sc_apc", f"{p}_u_nen", [("M", m)], [("bits", f"{p}_en"), ("k", f"{p}_nen")])
            em.body.assign(f"{p}_dm", f"{{{p}_non, 1'b0}} - {{1'b0, {p}_nen}}")
            em.modules.update({"sc_and_array", "sc_apc"})
        em.body.assign(f"{p}_d", sign_extend(f"{p}_dm", dm, dw))
        out.append(f"{p}_d")
    em.modules.add("sc_xnor_array")
    if gate is None:
        em.modules.add("sc_apc_bipolar")
    em.sig[n.name] = Signal("int", out, dw, {"lo": -m_max, "hi": m_max})


def op_xnor_int(em: DesignEmitter, n) -> None:
    """Every operand bit of the integral stream XNOR the row's stream r: the value times 2r - 1
    (the range is symmetric, so the negation fits the width)."""
    r, v = em.sig[n.inputs[0]], em.sig[n.inputs[1]]
    if r.kind != "bits" or v.kind != "int" or len(r.rows) != len(v.rows) or v.extra["lo"] != -v.extra["hi"]:
        raise unsupported(n, "operand shapes")
    base = em.nid(n.name)
    out = []
    for i in range(n.size):
        p = f"{base}_r{i}"
        em.decls.wire(f"{p}_d", v.width, signed=True)
        em.body.assign(f"{p}_d", f"{r.rows[i]} ? {v.rows[i]} : -{v.rows[i]}")
        out.append(f"{p}_d")
    em.sig[n.name] = Signal("int", out, v.width, dict(v.extra))


def op_mux(em: DesignEmitter, n) -> None:
    sel, a, b = (em.sig[i] for i in n.inputs)
    size = n.size
    if any(s.kind != "bits" or len(s.rows) != size for s in (sel, a, b)):
        raise unsupported(n, "operand shapes")
    base = em.nid(n.name)
    em.modules.add("sc_mux_array")
    em.decls.wire(f"{base}_y", size)
    em.body.instance("sc_mux_array", f"{base}_u", [("K", size)], [("sel", concat(sel.rows)), ("a", concat(a.rows)),
                                                                  ("b", concat(b.rows)), ("y", f"{base}_y")])
    em.sig[n.name] = Signal("bits", [f"{base}_y[{i}]" for i in range(size)], 1, {"shape": tuple(n.shape)})


def op_xnor(em: DesignEmitter, n) -> None:
    a, b = em.sig[n.inputs[0]], em.sig[n.inputs[1]]
    if a.kind != "bits" or b.kind != "bits":
        raise unsupported(n)
    size = n.size
    rows = n.shape[-1]

    def lane(s: Signal, i: int) -> str:
        return s.rows[i] if len(s.rows) == size else s.rows[i % rows]   # fan-out over leading K

    if len(a.rows) not in (size, rows) or len(b.rows) not in (size, rows):
        raise unsupported(n, "operand shapes")
    base = em.nid(n.name)
    em.modules.add("sc_xnor_array")
    em.decls.wire(f"{base}_y", size)
    em.body.instance("sc_xnor_array", f"{base}_u", [("K", size)],
                     [("a", concat(lane(a, i) for i in range(size))), ("b", concat(lane(b, i) for i in range(size))),
                      ("y", f"{base}_y")])
    em.sig[n.name] = Signal("bits", [f"{base}_y[{i}]" for i in range(size)], 1, {"shape": tuple(n.shape)})


def signed_sum(terms: list[str], offset: int, width: int) -> str:
    """``t0 + t1 + ... +/- offset`` (a negative wired offset is subtracted), 0 when empty."""
    if offset:
        const = f"{width}'sd{abs(offset)}"
        if not terms:
            return f"-{const}" if offset < 0 else const
        return " + ".join(terms) + (f" - {const}" if offset < 0 else f" + {const}")
    return " + ".join(terms) if terms else f"{width}'sd0"


def op_apc(em: DesignEmitter, n) -> None:
    rows = n.size
    per_row: list[list[str]] = [[] for _ in range(rows)]
    ints: list[Signal] = []
    for ref in n.inputs:
        s = em.sig[ref]
        if s.kind == "int" and len(s.rows) == rows:
            ints.append(s)
            continue
        if s.kind != "bits" or len(s.rows) % rows:
            raise unsupported(n, f"operand {ref!r}")
        for i, e in enumerate(s.rows):
            per_row[i % rows].append(e)
    offset = np.asarray(n.arrays["offset"]).astype(int) if "offset" in n.arrays else np.zeros(rows, int)
    m = len(per_row[0])
    if any(len(p) != m for p in per_row):
        raise unsupported(n, "rows with different operand counts")
    lo = -m + sum(s.extra["lo"] for s in ints) + int(offset.min())
    hi = m + sum(s.extra["hi"] for s in ints) + int(offset.max())
    dw0 = counter_width(m) + 1
    dw = max([dw0, signed_width(lo, hi)] + [s.width for s in ints])
    base = em.nid(n.name)
    out = []
    for r in range(rows):
        p = f"{base}_r{r}"
        terms = []
        if m:
            em.modules.add("sc_apc_bipolar")
            em.decls.wire(f"{p}_d0", dw0, signed=True)
            em.body.instance("sc_apc_bipolar", f"{p}_u", [("M", m)], [("bits", concat(per_row[r])), ("d", f"{p}_d0")])
            terms.append(sign_extend(f"{p}_d0", dw0, dw))
        terms += [sign_extend(s.rows[r], s.width, dw) for s in ints]
        em.decls.wire(f"{p}_d", dw, signed=True)
        em.body.assign(f"{p}_d", signed_sum(terms, int(offset[r]), dw))
        out.append(f"{p}_d")
    em.sig[n.name] = Signal("int", out, dw, {"lo": lo, "hi": hi})


HANDLERS = {"slice": op_slice, "islice": op_islice, "xnor_apc": op_xnor_apc, "xnor_int": op_xnor_int,
            "mux": op_mux, "xnor": op_xnor, "apc": op_apc}
