"""Op handlers of the binary-domain dense products and the dense head: ``xnor_popcount`` (exact
ternary operands times -1/0/+1 weights, ``k = 2 popcount(XNOR & active) - popcount(active)``
per row), ``int_mac`` (a fixed-point head: K-bit integer weights times the integer operands --
exact codes, or 2 c - L of per-input step counts -- summed in signed binary arithmetic,
combinational, read when its operands are final), ``dense_out`` (the float affine of the head,
left to the host: manifest) and
``last_step`` (a sequence-level head's input: the wires of the last recurrent layer's h, which its
state register holds after the last step; the head's control runs it then, see :mod:`..top`)."""

from __future__ import annotations

import numpy as np

from ....sim.primitives import counter_width
from ....sim.rules import bipolar_count_width, signed_width
from ..emitter import DesignEmitter, Signal, unsupported
from ..names import comment_text
from ..verilog_text import concat


def op_xnor_popcount(em: DesignEmitter, n) -> None:
    src = em.sig[n.inputs[0]]
    if src.kind != "tern":
        raise unsupported(n, f"operands of kind {src.kind}")
    if float(n.params.get("operand_scale", 1.0)) != float(src.extra.get("scale", 1.0)):
        raise unsupported(n, "operand scale differs from the operands' scale")
    w = np.asarray(n.arrays["weights"])
    if w.ndim != 2 or not np.all(np.isin(w, (-1, 0, 1))):
        raise unsupported(n, "weights must be a (rows, J) array of -1/0/+1")
    rows_n, j = w.shape
    kw = counter_width(j)
    sw = signed_width(-j, j)
    base = em.nid(n.name)
    em.decls.wire(f"{base}_onz", j)
    em.decls.wire(f"{base}_opos", j)
    em.body.assign(f"{base}_onz", concat(src.rows))
    em.body.assign(f"{base}_opos", concat(src.extra["pos"]))
    rows = []
    for r in range(rows_n):
        wnz = sum(1 << k for k in range(j) if w[r, k] != 0)
        wpos = sum(1 << k for k in range(j) if w[r, k] > 0)
        p = f"{base}_r{r}"
        for s in ("act", "eq", "same"):
            em.decls.wire(f"{p}_{s}", j)
        em.decls.wire(f"{p}_nsame", kw)
        em.decls.wire(f"{p}_nact", kw)
        em.decls.wire(f"{p}_k", sw, signed=True)
        # |k| <= J < 2^kw: the kw+1-bit modular difference is k in two's complement
        em.body.comment(f"row {r}: k = 2 popcount(XNOR(w, o) & active) - popcount(active)")
        em.body.instance("sc_and_array", f"{p}_u_act", [("K", j)], [("a", f"{j}'h{wnz:x}"), ("b", f"{base}_onz"),
                                                                     ("y", f"{p}_act")])
        em.body.instance("sc_xnor_array", f"{p}_u_xnor", [("K", j)], [("a", f"{j}'h{wpos:x}"), ("b", f"{base}_opos"),
                                                                       ("y", f"{p}_eq")])
        em.body.instance("sc_and_array", f"{p}_u_same", [("K", j)], [("a", f"{p}_eq"), ("b", f"{p}_act"),
                                                                      ("y", f"{p}_same")])
        em.body.instance("sc_apc", f"{p}_u_nsame", [("M", j)], [("bits", f"{p}_same"), ("k", f"{p}_nsame")])
        em.body.instance("sc_apc", f"{p}_u_nact", [("M", j)], [("bits", f"{p}_act"), ("k", f"{p}_nact")])
        em.body.assign(f"{p}_k", f"{{{p}_nsame, 1'b0}} - {{1'b0, {p}_nact}}")
        rows.append(f"{p}_k")
    em.modules.update({"sc_and_array", "sc_xnor_array", "sc_apc"})
    em.sig[n.name] = Signal("word", rows, sw, {"j": j})


def op_int_mac(em: DesignEmitter, n) -> None:
    src = em.sig[n.inputs[0]]
    wq = np.asarray(n.arrays["wq"], dtype=np.int64)
    rows_n, j = wq.shape
    base = em.nid(n.name)
    if n.params["operands"] == "codes":
        if src.kind != "tern":
            raise unsupported(n, f"code operands of kind {src.kind}")
        if float(n.params.get("operand_scale", 1.0)) != float(src.extra.get("scale", 1.0)):
            raise unsupported(n, "operand scale differs from the operands' scale")
        ow = 2
        em.body.comment("operand codes o_j = nz ? (pos ? +1 : -1) : 0 as 2-bit two's complement")
        ops = []
        for k in range(j):
            o = f"{base}_o{k}"
            em.decls.wire(o, ow, signed=True)
            em.body.assign(o, f"{{{src.rows[k]} & ~{src.extra['pos'][k]}, {src.rows[k]}}}")
            ops.append(o)
    else:
        if src.kind != "count":
            raise unsupported(n, f"count operands of kind {src.kind}")
        L = em.Lc
        cw = src.width
        ow = bipolar_count_width(L)                   # 2 c - L in [-L, L]
        em.body.comment(f"operands o_j = 2 c_j - {L}: the bipolar step count of input stream j")
        ops = []
        for k in range(j):
            o = f"{base}_o{k}"
            em.decls.wire(o, ow, signed=True)
            c = src.rows[k]
            ext = f"{{{ow - cw}'d0, {c}}}" if ow > cw else c
            em.body.assign(o, f"({ext} << 1) - {ow}'d{L}")
            ops.append(o)
    aw = signed_width(*map(int, n.range))
    rows = []
    for r in range(rows_n):
        a = f"{base}_r{r}"
        em.decls.wire(a, aw, signed=True)
        terms = [f"{ops[k]} * ({'-' if wq[r, k] < 0 else ''}{aw}'sd{abs(int(wq[r, k]))})"
                 for k in range(j) if wq[r, k] != 0]
        em.body.assign(a, " + ".join(terms) if terms else f"{aw}'sd0",
                       comment=f"row {r}: sum_j Wq[{r}, j] o_j (exact in {aw} bits)")
        rows.append(a)
    em.sig[n.name] = Signal("word", rows, aw, {"j": j})


def op_dense_out(em: DesignEmitter, n) -> None:
    mode = n.params.get("mode")
    k = em.netlist.node(n.inputs[0])
    em.host = {"node": n.name, "input": k.name, "gain": np.asarray(n.arrays["gain"]).tolist(),
               "bias": np.asarray(n.arrays["bias"]).tolist()}
    if mode == "fixed_counted":  # a fixed-point head over stream counts: acc / L on the host
        em.host.update(length=em.lengths[n.layer], formula="y = gain * (acc / length) + bias")
        ks = em.sig[k.name]
        em.outputs.append({"node": k.name, "width": ks.width, "signed": True, "rows": list(ks.rows), "ctl": em.c})
        em.sig[n.name] = Signal("host", [], 0)
        return
    if mode == "counted":       # the step count of an up/down counter (already an output)
        if k.op != "updown_counter":
            raise unsupported(n, f"counted head over a {k.op}")
        em.host.update(length=em.lengths[n.layer], formula="y = gain * (k / length) + bias")
        em.sig[n.name] = Signal("host", [], 0)
        return
    if mode not in ("exact", "fixed"):
        raise unsupported(n, f"mode {mode!r}")
    em.host["formula"] = "y = gain * k + bias" if mode == "exact" else "y = gain * acc + bias"
    ks = em.sig[k.name]
    em.outputs.append({"node": k.name, "width": ks.width, "signed": True, "rows": list(ks.rows), "ctl": em.c})
    em.sig[n.name] = Signal("host", [], 0)


def op_last_step(em: DesignEmitter, n) -> None:
    src = n.inputs[0]
    em.body.comment(f"wires: {comment_text(src)} (the head after it runs once, after the last step)")
    em.alias[n.name] = em.alias.get(src, src)
    em.sig[n.name] = em.sig[src]


HANDLERS = {"xnor_popcount": op_xnor_popcount, "int_mac": op_int_mac, "dense_out": op_dense_out,
            "last_step": op_last_step}
