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
from ....sim.rules import bipolar_count_width, mac_schedule, signed_width, unsigned_width
from ..emitter import DesignEmitter, Signal, unsupported
from ..names import comment_text
from ..verilog_text import concat, sign_extend


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
    if n.params.get("macs") is not None:
        sequential_mac(em, n, wq, ops, ow, aw)
        return
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


def sequential_mac(em: DesignEmitter, n, wq: np.ndarray, ops: list[str], ow: int, aw: int) -> None:
    """A sequential (folded) MAC of P units (``macs``), on the schedule of
    :func:`sim.rules.mac_schedule`: on ``<base>_go`` (the cycle in which the operands are final)
    the operands are captured and the partial sums cleared; in MAC cycle c (``<base>_cyc``, while
    ``<base>_busy``) unit u adds Wq[r, j] o_j of its product (r, j) = schedule[u][c] to its partial
    of row r; acc_r = the sum of row r's partials, final when ``<base>_valid`` (the control in
    :mod:`..top`).  Exact: the integer sum does not depend on the order."""
    rows_n, j = wq.shape
    base = em.nid(n.name)
    macs = int(n.params["macs"])
    sched = mac_schedule(rows_n, j, macs)
    cycles = len(sched[0])
    cw = max(1, unsigned_width(cycles - 1))
    wk = signed_width(-int(np.abs(wq).max()), int(np.abs(wq).max()))
    em.seq_mac = {"base": base, "cycles": cycles, "width": cw, "layer": n.layer}
    em.body.comment(f"sequential MAC: {len(sched)} unit(s) x {cycles} cycle(s) over {rows_n} x {j} products "
                    "(row-major, unit u: a contiguous block)")
    opr = []
    for k in range(j):
        q = f"{base}_q{k}"
        em.decls.reg(q, ow, signed=True)
        opr.append(q)
    em.body.always("posedge clk", [f"if ({base}_go) begin",
                                   *[f"    {opr[k]} <= {ops[k]};" for k in range(j)], "end"])
    partial: dict[int, list[str]] = {r: [] for r in range(rows_n)}
    for u, blk in enumerate(sched):
        pu = f"{base}_u{u}"
        em.decls.reg((f"{pu}_w",), wk, signed=True)
        em.decls.reg((f"{pu}_x",), ow, signed=True)
        em.decls.wire(f"{pu}_p", aw, signed=True)
        ent_w = [(f"{cw}'d{c}", f"{'-' if wq[r, jj] < 0 else ''}{wk}'sd{abs(int(wq[r, jj]))}")
                 for c, (r, jj) in enumerate(blk)]
        ent_x = [(f"{cw}'d{c}", opr[jj]) for c, (r, jj) in enumerate(blk)]
        em.body.case_table(f"{pu}_w", f"{base}_cyc", ent_w, f"{wk}'sd0")
        em.body.case_table(f"{pu}_x", f"{base}_cyc", ent_x, f"{ow}'sd0")
        em.body.assign(f"{pu}_p", f"{sign_extend(f'{pu}_x', ow, aw)} * {sign_extend(f'{pu}_w', wk, aw)}",
                       comment=f"unit {u}: Wq x o of its product this cycle")
        touched = sorted({r for r, _ in blk})
        names = {r: f"{pu}_r{r}" for r in touched}
        for r in touched:
            em.decls.reg(names[r], aw, signed=True)
            partial[r].append(names[r])
        stmts = [f"if ({base}_go) begin", *[f"    {names[r]} <= {aw}'sd0;" for r in touched],
                 f"end else if ({base}_busy) begin", f"    case ({base}_cyc)"]
        for r in touched:
            cs = [f"{cw}'d{c}" for c, (rr, _) in enumerate(blk) if rr == r]
            stmts.append(f"        {', '.join(cs)}: {names[r]} <= {names[r]} + {pu}_p;")
        stmts += ["        default: ;", "    endcase", "end"]
        em.body.always("posedge clk", stmts)
    rows = []
    for r in range(rows_n):
        a = f"{base}_r{r}"
        em.decls.wire(a, aw, signed=True)
        em.body.assign(a, " + ".join(partial[r]) if partial[r] else f"{aw}'sd0",
                       comment=f"row {r}: sum of its partials (final when {base}_valid)")
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
