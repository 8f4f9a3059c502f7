"""Op handlers and ROM builders of the tables: a gate table (``gate_table``: its values live in
the threshold ROMs of the SNG bank it feeds), those threshold ROMs over ``{tsel, kx, kh}``, and
the count -> threshold ROMs of a state register's SNGs.  Every ROM's contents come from the
runtime's own node evaluation at each address, so no float map is restated."""

from __future__ import annotations

import numpy as np

from ....sim.rules import stats_row
from ..emitter import MAX_ROM_ADDRESS_BITS, DesignEmitter, Signal, unsupported
from ..names import comment_text

#: the per-step arrays of a gate table (batch norm statistics folded in)
STEP_ARRAYS = ("ax", "ah", "shift", "shift_x", "shift_h")


def op_gate_table(em: DesignEmitter, n) -> None:
    if n.params.get("cell") not in ("lstm", "gru"):
        raise unsupported(n, f"{n.params.get('cell')!r} tables")
    # per-step statistics: step t reads row stats_row(t, rows) of each array, so the tables of
    # steps 0 .. T_st - 1 (T_st = the most rows) cover every step
    t_st = max(int(np.asarray(n.arrays[a]).shape[0]) for a in STEP_ARRAYS if a in n.arrays)
    tsel, tw = em.tsel(t_st)
    kx, kh = em.sig[n.inputs[0]], em.sig[n.inputs[1]]
    em.sig[n.name] = Signal("gate", [], 0, {"kx": kx, "kh": kh, "node": n, "t_st": t_st, "tw": tw, "tsel": tsel})


def as_signed(v: np.ndarray, w: int) -> np.ndarray:
    """``w``-bit codes read as two's complement (float)."""
    return np.where(v >= 1 << (w - 1), v - (1 << w), v).astype(np.float64)


def gate_roms(em: DesignEmitter, n, g: dict, base: str, bits: int, rows_per: int) -> list[str]:
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
        raise unsupported(n, f"its gate-table ROM needs {aw} address bits (> {MAX_ROM_ADDRESS_BITS}: "
                             "{kx_r, kh_r, kx_n, kh_n} of a GRU's n gate); use fewer inputs/hidden units or "
                             "--set gate_input=integral_wfsm")
    grid = np.arange(1 << (pairs * (kxw + khw)))
    fields = []                                              # the address fields, low bits last
    shift = pairs * (kxw + khw)
    for w in (kxw, khw) * pairs:
        shift -= w
        fields.append(as_signed((grid >> shift) & ((1 << w) - 1), w))
    rows = gn.size
    kx = np.repeat(fields[0][:, None], rows, 1)
    kh = np.repeat(fields[1][:, None], rows, 1)
    if with_r:                                               # r rows [0, H) <- fields 0, 1; n rows <- 2, 3
        kx[:, 2 * hidden:] = fields[2][:, None]
        kh[:, 2 * hidden:] = fields[3][:, None]
    tables = []
    for t in range(1 << g["tw"]):                            # address {tsel, ...}
        vals = em.rt._eval(gn, {gn.inputs[0]: kx, gn.inputs[1]: kh}, {}, {}, {}, em.Lc, grid.size,
                           stats_row(t, g["t_st"]))
        tables.append(em.sng_thresholds(n, vals))            # (C, rows)
    xs = np.concatenate(tables, axis=0)
    thr = []
    for r in range(rows_per):
        parts = [g["kx"].rows[a + r], g["kh"].rows[a + r]]
        if with_r:
            rr = a + r - 2 * hidden
            parts = [g["kx"].rows[rr], g["kh"].rows[rr]] + parts
        addr = "{" + ", ".join(([g["tsel"]] if g["tsel"] else []) + parts) + "}"
        thr.append(em.rom(f"{base}_rom{r}", addr, aw, xs[:, r].tolist(), bits + 1))
    return thr


def state_roms(em: DesignEmitter, n, reg: dict, src: Signal, base: str, bits: int, rows_per: int) -> None:
    """The count -> threshold map (decode, clip, scale, threshold) of an SNG bank reading a state
    register, over every count code; written after the walk, when the counter's width is known."""
    if "cw" not in reg:
        raise unsupported(n, "state whose counter is not emitted")
    cw = reg["cw"]
    dec = src.extra["decode"]
    codes = np.arange(1 << cw)
    counts = np.where(codes >= 1 << (cw - 1), codes - (1 << cw), codes) if reg["signed"] else codes
    lo, hi = reg["range"]                   # unreachable codes read 0
    ok = (counts >= lo) & (counts <= hi)
    vals = em.rt._eval(dec, {dec.inputs[0]: counts[ok][:, None].astype(np.float64)}, {}, {}, {},
                       em.lengths[dec.layer], int(ok.sum()), 0)
    if isinstance(vals, tuple):
        vals = vals[0]
    xs = np.zeros((codes.size, 1), dtype=np.int64)
    xs[ok] = em.sng_thresholds(n, vals)[:, :1]
    # before the first capture the register holds its reset value (0), which count 0 need not
    # decode to (bipolar: 2*0/L - 1 = -1): its threshold then comes from a flag
    x_reset = int(em.sng_thresholds(n, np.zeros((1, 1)))[0, 0])
    q = reg["q"]
    em.body.blank()
    em.body.comment(f"IR node {comment_text(n.name)} (sng): threshold ROMs of {comment_text(reg['node'].name)}")
    for r in range(rows_per):
        data = em.rom(f"{base}_rom{r}", f"{q}_now{r}", cw, xs[:, 0].tolist(), bits + 1)
        em.decls.wire(f"{base}_x{r}", bits + 1)
        if x_reset == int(xs[0, 0]) or reg.get("no_reset"):
            em.body.assign(f"{base}_x{r}", data)
        else:
            reg["flag"] = True
            em.body.assign(f"{base}_x{r}", f"{q}_use_reset ? {bits + 1}'d{x_reset} : {data}")


HANDLERS = {"gate_table": op_gate_table}
