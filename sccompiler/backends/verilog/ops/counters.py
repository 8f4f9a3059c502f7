"""Op handlers of the counters, decoders and state registers: up counters (``counter``) and
up/down counters (``updown_counter``) running freely with a per-step base, the decode of a
step's count (``decode``: sign bits, or the count itself for a threshold ROM), and the state
registers (``register``) that hold the previous step's value and bypass the fresh one in the
boundary cycle."""

from __future__ import annotations

from ....sim.primitives import counter_width
from ....sim.rules import signed_width, stats_row, ternary_count_threshold
from ..emitter import DesignEmitter, Signal, unsupported
from ..names import comment_text
from ..verilog_text import concat


def op_register(em: DesignEmitter, n) -> None:
    if float(n.params.get("reset", 0.0)) != 0.0:
        raise unsupported(n, "nonzero reset value")
    nxt = em.netlist.node(n.params["next"])
    if nxt.op != "decode":
        raise unsupported(n, f"state from a {nxt.op} node")
    mode = nxt.params["mode"]
    cnt = em.netlist.node(nxt.inputs[0])
    if (mode, cnt.op) in (("sign", "counter"), ("ternary", "counter"), ("cell_sign", "updown_counter")):
        kind = "tern"
    elif (mode, cnt.op) in (("integral", "updown_counter"), ("bipolar", "counter")):
        kind = "cval"
    else:
        raise unsupported(n, f"state decoded by {mode!r} from a {cnt.op}")
    # the register's value is known only after its counter is emitted: named now, bound by op_decode
    q = em.nid(n.name)
    em.registers.append({"node": n, "next": nxt, "counter": cnt, "q": q, "kind": kind})
    rows = [f"{q}_now{i}" for i in range(n.size)]
    if kind == "tern":
        em.sig[n.name] = Signal("tern", [f"{q}_nz_now[{i}]" for i in range(n.size)], 1,
                                {"pos": [f"{q}_pos_now[{i}]" for i in range(n.size)]})
    else:
        em.sig[n.name] = Signal("cval", rows, 0, {"decode": nxt, "q": q})


def counter_steps(em: DesignEmitter, n, cw: int, signed: bool) -> list[str]:
    """Per row of a free-running counter: its base register and this step's value (count - base
    mod 2^cw); records the rows as checked outputs."""
    base = em.nid(n.name)
    rows = []
    c = em.c
    for r in range(n.size):
        p = f"{base}_r{r}"
        em.decls.reg(f"{p}_base", cw, signed=signed)
        em.decls.wire(f"{p}_step", cw, signed=signed)
        em.body.assign(f"{p}_step", f"{p}_count - {p}_base", comment="this step's count (final at the boundary)")
        em.body.always("posedge clk", [f"if ({c}_srst)       {p}_base <= {cw}'d0;",
                                       f"else if ({c}_first) {p}_base <= {p}_count;"])
        rows.append(f"{p}_step")
    em.outputs.append({"node": n.name, "width": cw, "signed": signed, "rows": rows, "ctl": c})
    return rows


def op_counter(em: DesignEmitter, n) -> None:
    s = em.sig[n.inputs[0]]
    if s.kind != "bits" or len(s.rows) != n.size:
        raise unsupported(n)
    L = em.Lc
    cw = counter_width(L)
    base = em.nid(n.name)
    em.modules.add("sc_counter_up")
    for r in range(n.size):
        p = f"{base}_r{r}"
        y = f"{em.c}_en & {s.rows[r]}" if em.idles else s.rows[r]
        em.decls.wire(f"{p}_count", cw)
        em.body.instance("sc_counter_up", f"{p}_u", [("LENGTH", L)],
                         [("clk", "clk"), ("rst", f"{em.c}_srst"), ("y", y), ("count", f"{p}_count")])
    rows = counter_steps(em, n, cw, False)
    em.sig[n.name] = Signal("count", rows, cw, {"signed": False, "lo": 0, "hi": L})


def op_updown_counter(em: DesignEmitter, n) -> None:
    s = em.sig[n.inputs[0]]
    if s.kind != "int" or len(s.rows) != n.size:
        raise unsupported(n)
    lo, hi = s.extra["lo"] * em.Lc, s.extra["hi"] * em.Lc
    cw = signed_width(lo, hi)
    base = em.nid(n.name)
    em.modules.add("sc_counter_updown")
    for r in range(n.size):
        p = f"{base}_r{r}"
        em.decls.wire(f"{p}_count", cw, signed=True)
        em.body.instance("sc_counter_updown", f"{p}_u",
                         [("CW", cw), ("DW", s.width), ("RESET", 0), ("SAT_LO", 0), ("LO", 0), ("SAT_HI", 0),
                          ("HI", 0)],
                         [("clk", "clk"), ("rst", f"{em.c}_srst"), ("d", em.held(s.rows[r], s.width)),
                          ("count", f"{p}_count")], ports_below=True)
    rows = counter_steps(em, n, cw, True)
    em.sig[n.name] = Signal("count", rows, cw, {"signed": True, "lo": lo, "hi": hi})


def op_decode(em: DesignEmitter, n) -> None:
    c = em.sig[n.inputs[0]]
    mode = n.params["mode"]
    base = em.nid(n.name)
    if mode == "sign" and c.kind == "count" and not c.extra["signed"]:
        # sim.rules.sign_decode in hardware: h = +1 if 2 C >= L else -1 (pos bit = 2 C >= L)
        em.decls.wire(f"{base}_pos", n.size)
        for r in range(n.size):
            em.body.assign(f"{base}_pos[{r}]", f"({{1'b0, {c.rows[r]}, 1'b0}} >= {c.width + 2}'d{em.Lc})")
        rows = [f"{base}_pos[{r}]" for r in range(n.size)]
        em.sig[n.name] = Signal("tern", ["1'b1"] * n.size, 1, {"pos": rows, "sign": True})
        em.outputs.append({"node": n.name, "width": 1, "signed": False, "rows": rows, "sign": True, "ctl": em.c})
    elif mode == "ternary" and c.kind == "count" and not c.extra["signed"]:
        # sim.rules.ternary_decode in hardware: d = 2 C - L against k; pos = 2 C >= L + k (h = +1),
        # nz = pos | (2 C <= L - k) (h = -1); nz = 0 is h = 0, whose XNORs the next step skips
        k = ternary_count_threshold(n.params["threshold"], em.Lc)
        w = c.width + 2
        em.decls.wire(f"{base}_pos", n.size)
        em.decls.wire(f"{base}_nz", n.size)
        for r in range(n.size):
            two_c = f"{{1'b0, {c.rows[r]}, 1'b0}}"
            em.body.assign(f"{base}_pos[{r}]", f"({two_c} >= {w}'d{em.Lc + k})")
            em.body.assign(f"{base}_nz[{r}]", f"{base}_pos[{r}] | ({two_c} <= {w}'d{max(em.Lc - k, 0)})"
                           if em.Lc - k >= 0 else f"{base}_pos[{r}]")
        pos = [f"{base}_pos[{r}]" for r in range(n.size)]
        nz = [f"{base}_nz[{r}]" for r in range(n.size)]
        em.sig[n.name] = Signal("tern", nz, 1, {"pos": pos})
        em.outputs.append({"node": n.name, "width": 2, "signed": False, "ternary": True, "ctl": em.c,
                           "rows": [f"{{{p}, {z}}}" for p, z in zip(pos, nz)]})
    elif mode == "cell_sign" and c.kind == "count" and c.extra["signed"]:
        rows = cell_sign_bits(em, n, c)
        em.sig[n.name] = Signal("tern", ["1'b1"] * n.size, 1, {"pos": rows, "sign": True})
        em.outputs.append({"node": n.name, "width": 1, "signed": False, "rows": rows, "sign": True, "ctl": em.c})
    elif (mode == "integral" and c.kind == "count" and c.extra["signed"]) or \
            (mode == "bipolar" and c.kind == "count" and not c.extra["signed"]):
        em.sig[n.name] = Signal("cval_step", list(c.rows), c.width)
    else:
        raise unsupported(n, f"decode mode {mode!r}")
    for reg in em.registers:
        if reg["next"].name == n.name:
            bind_register(em, reg, n, c)


def _signed_literal(v: int, width: int) -> str:
    return f"{width}'sd{v}" if v >= 0 else f"-{width}'sd{-v}"


def cell_sign_bits(em: DesignEmitter, n, c: Signal) -> list[str]:
    """sim.rules.cell_sign in hardware: pos = (C >= thr) or (C <= thr) per unit, the threshold and
    the direction wired, or read from ROMs over the step index when they vary per step."""
    ge, thr = n.arrays["ge"], n.arrays["thr"]
    t_st = thr.shape[0]
    width = max(c.width, signed_width(int(thr.min()), int(thr.max())))
    tsel, tw = em.tsel(t_st, finished=True)      # the count is final in the next step's first cycle
    base = em.nid(n.name)
    em.decls.wire(f"{base}_pos", n.size)
    rows = []
    for r in range(n.size):
        col_t, col_g = [int(v) for v in thr[:, r]], [int(v) for v in ge[:, r]]
        if tsel is None or (len(set(col_t)) == 1 and len(set(col_g)) == 1):
            t_expr, g_expr = _signed_literal(col_t[0], width), f"1'b{col_g[0]}"
        else:
            steps = range(1 << tw)
            t_expr = "$signed(" + em.rom(f"{base}_thr{r}", tsel, tw,
                                         [col_t[stats_row(t, t_st)] for t in steps], width) + ")"
            g_expr = em.rom(f"{base}_ge{r}", tsel, tw, [col_g[stats_row(t, t_st)] for t in steps], 1)
        row = f"$signed({c.rows[r]})"
        em.body.assign(f"{base}_pos[{r}]", f"{g_expr} ? ({row} >= {t_expr}) : ({row} <= {t_expr})")
        rows.append(f"{base}_pos[{r}]")
    return rows


def bind_register(em: DesignEmitter, reg: dict, dec, cnt: Signal) -> None:
    """State storage: q holds the previous step's value; in the boundary cycle the fresh value
    is bypassed (q_now) and captured."""
    q = reg["q"]
    size = reg["node"].size
    c = em.c
    # the fresh value is used (and captured) in the boundary cycle and in the cycle after the
    # last step, so a next layer reads this layer's last h during its own last step
    fresh_now = f"({c}_boundary || {c}_flush)"
    capture = f"({c}_first || {c}_flush)"
    em.body.comment(f"IR node {comment_text(reg['node'].name)} (register <- {comment_text(dec.name)}): state "
                    "storage, bypassed in the "
                    "boundary cycle")
    if reg["kind"] == "tern":
        em.decls.reg(f"{q}_nz_q", size)
        em.decls.reg(f"{q}_pos_q", size)
        em.decls.wire(f"{q}_nz_now", size)
        em.decls.wire(f"{q}_pos_now", size)
        em.body.assign(f"{q}_nz_now", f"{fresh_now} ? {concat(em.sig[dec.name].rows)} : {q}_nz_q")
        em.body.assign(f"{q}_pos_now", f"{fresh_now} ? {concat(em.sig[dec.name].extra['pos'])} : {q}_pos_q")
        em.body.always("posedge clk", [
            f"if ({c}_srst) begin {q}_nz_q <= {size}'d0; {q}_pos_q <= {size}'d0; end",
            f"else if {capture} begin {q}_nz_q <= {q}_nz_now; {q}_pos_q <= {q}_pos_now; end"])
        return
    cw = cnt.width
    reg["cw"] = cw
    reg["signed"] = bool(cnt.extra["signed"])
    reg["ctl"] = c
    reg["range"] = (int(cnt.extra["lo"]), int(cnt.extra["hi"]))
    em.sig[reg["node"].name].width = cw
    for r in range(size):
        em.decls.reg(f"{q}_q{r}", cw, signed=reg["signed"])
        em.decls.wire(f"{q}_now{r}", cw, signed=reg["signed"])
        em.body.assign(f"{q}_now{r}", f"{fresh_now} ? {cnt.rows[r]} : {q}_q{r}")
        em.body.always("posedge clk", [f"if ({c}_srst) {q}_q{r} <= {cw}'d0;",
                                       f"else if {capture} {q}_q{r} <= {q}_now{r};"])


HANDLERS = {"register": op_register, "counter": op_counter, "updown_counter": op_updown_counter,
            "decode": op_decode}
