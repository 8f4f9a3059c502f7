"""Op handler of the weighted FSMs (``wfsm``, integral input): one ``sc_wfsm`` per row with its
group's weight table and its weight comparator's
source bits, or, with a per-step bank of tables (batch norm
statistics folded into the targets), ``sc_fsm_int`` + a ROM over ``{tsel, state}``."""

from __future__ import annotations

import numpy as np

from ....sim.rules import fsm_reset_state, fsm_state_width, stats_row
from ..emitter import DesignEmitter, Signal, unsupported


def op_wfsm(em: DesignEmitter, n) -> None:
    p = n.params
    policy = p.get("state_policy", "carry")
    if policy not in ("carry", "reset"):
        raise unsupported(n, f"state_policy {policy!r}")
    # 'reset': the runtime puts the state at its reset state before every step; here the update of
    # a step's last cycle is replaced by that reset (its output bit used the state before it)
    frst = f"{em.c}_srst" if policy == "carry" else f"{em.c}_step_rst"
    if policy == "reset":
        em.step_rst_used.add(em.ctl)
    wq = np.asarray(n.arrays["wq"])
    d = em.sig[n.inputs[0]]
    if d.kind != "int":
        raise unsupported(n, "binary-input WFSM")
    states, bits = int(p["states"]), int(p["weight_bits"])
    group = np.asarray(n.arrays["group"]).reshape(-1)
    base = em.nid(n.name)
    em.modules.add("sc_wfsm")
    out = []
    sw = fsm_state_width(states)
    if wq.ndim == 3:
        wfsm_banked(em, n, wq, d, frst, group)
        return
    for r in range(n.size):
        table = [int(v) for v in wq[int(group[r])]]
        packed = sum(v << (i * (bits + 1)) for i, v in enumerate(table))
        inst = f"{base}_r{r}"
        rw = em.comparator_random(n, r) or f"{bits}'d0"
        em.decls.wire(f"{inst}_y")
        # the state is internal to sc_wfsm (its port serves the library's co-simulation)
        em.decls.wire(f"{inst}_state", sw, unused="")
        em.body.instance("sc_wfsm", f"{inst}_u",
                         [("N", states), ("B", bits), ("INTEGRAL", 1), ("DW", d.width),
                          ("RESET", fsm_reset_state(states)), ("WEIGHTS", f"{states * (bits + 1)}'h{packed:x}")],
                         [("clk", "clk"), ("rst", frst), ("d", em.held(d.rows[r], d.width)), ("rw", rw),
                          ("y", f"{inst}_y"), ("state", f"{inst}_state")], params_per_line=5, ports_below=True)
        out.append(f"{inst}_y")
    em.sig[n.name] = Signal("bits", out, 1, {"shape": tuple(n.shape)})


def wfsm_banked(em: DesignEmitter, n, wq: np.ndarray, d: Signal, frst: str, group: np.ndarray) -> None:
    """WFSMs with a per-step bank of weight tables (wq (T, G, N): step t reads table
    stats_row(t, T), batch norm statistics folded into the targets): the saturating counter
    (sc_fsm_int) and a ROM over {tsel, state} per row, y = (R' < Wq_t[s]) as in sc_wfsm."""
    states, bits = int(n.params["states"]), int(n.params["weight_bits"])
    t_st = int(wq.shape[0])
    tsel, tw = em.tsel(t_st)
    sw = fsm_state_width(states)
    base = em.nid(n.name)
    em.modules.add("sc_fsm_int")
    out = []
    for r in range(n.size):
        g = int(group[r])
        inst = f"{base}_r{r}"
        rw = em.comparator_random(n, r) or f"{bits}'d0"
        em.decls.wire(f"{inst}_state", sw)
        em.decls.wire(f"{inst}_y")
        em.body.instance("sc_fsm_int", f"{inst}_u_fsm",
                         [("N", states), ("DW", d.width), ("RESET", fsm_reset_state(states))],
                         [("clk", "clk"), ("rst", frst), ("d", em.held(d.rows[r], d.width)),
                          ("state", f"{inst}_state")],
                         ports_below=True)
        if tsel is None:
            table = [int(v) for v in wq[0, g]]
            addr, aw = f"{inst}_state", sw
        else:
            table = [int(wq[stats_row(t, t_st), g, s_]) if s_ < states else 0
                     for t in range(1 << tw) for s_ in range(1 << sw)]
            addr, aw = f"{{{tsel}, {inst}_state}}", tw + sw
        data = em.rom(f"{inst}_rom", addr, aw, table, bits + 1)
        em.body.assign(f"{inst}_y", f"({{1'b0, {rw}}} < {data})", comment="y = (R' < Wq_t[state])")
        out.append(f"{inst}_y")
    em.sig[n.name] = Signal("bits", out, 1, {"shape": tuple(n.shape)})


HANDLERS = {"wfsm": op_wfsm}
