"""Op handlers of the stream sources: the model input port (exact, real, tokens), the embedding
lookup, and SNG banks (an LFSR + comparator per element) with their thresholds: selected exact
operands, the port's real thresholds, wired constants, or ROMs (:mod:`.tables`)."""

from __future__ import annotations

import numpy as np

from ....sim.rules import stats_row, unsigned_width
from ..emitter import MAX_ROM_ADDRESS_BITS, DesignEmitter, Signal, unsupported
from .tables import gate_roms, state_roms


def op_input(em: DesignEmitter, n) -> None:
    if n.params.get("source") is None:                     # the model input port
        if n.params.get("kind") == "tokens":
            if em.embedding is None:
                raise unsupported(n, "token inputs without an embedding")
            vocab = int(np.asarray(em.netlist.node(f"{em.embedding.name}.y").arrays["table"]).shape[0])
            tw = unsigned_width(vocab - 1)
            if tw > MAX_ROM_ADDRESS_BITS:
                raise unsupported(n, f"a vocabulary of {vocab} tokens ({tw} > {MAX_ROM_ADDRESS_BITS} ROM address bits)")
            em.in_size, em.vocab = 1, vocab
            em.x_format, em.x_width = "token", tw
            em.sig[n.name] = Signal("token", ["x_in"], tw)
            return
        if n.params.get("kind") != "features":
            raise unsupported(n, f"{n.params.get('kind')!r} inputs")
        size = n.size
        em.in_size = size
        em.x_format, em.x_width = "tern", 2
        em.sig[n.name] = Signal("port", [f"x_in[{2 * j}]" for j in range(size)], 2,
                                {"pos": [f"x_in[{2 * j + 1}]" for j in range(size)]})
        return
    source = n.params["source"]
    if em.embedding is not None and source == f"{em.embedding.name}.y":
        embedded_input(em, n, em.sig[source])
        return
    if not n.params.get("exact"):
        if source == "model.input":
            # real inputs arrive as the thresholds X of their SNG bank (bound by that SNG)
            em.sig[n.name] = Signal("real", [], 0, {"node": n})
            return
        # a previous layer's decoded h count, held by its state register (see .counters)
        reg = em.register_of(source, "cval")
        if reg is None:
            raise unsupported(n, f"input from {source!r}")
        em.sig[n.name] = em.sig[reg["node"].name]
        return
    if source == "model.input":
        em.in_scale = float(n.params["scale"])
        port = em.sig[source]
        em.sig[n.name] = Signal("tern", [em.port_expr(r) for r in port.rows], 1,
                                {"pos": [em.port_expr(r) for r in port.extra["pos"]], "scale": em.in_scale})
        return
    # a previous layer's h: its state register holds it (bypassed in its boundary cycle) for the
    # whole of the previous layer's next step, which is this layer's step
    reg = em.register_of(source, "tern")
    if reg is None or float(n.params["scale"]) != 1.0:
        raise unsupported(n, f"input from {source!r}")
    s = em.sig[reg["node"].name]
    em.sig[n.name] = Signal("tern", list(s.rows), 1, {"pos": list(s.extra["pos"]), "scale": 1.0})


def op_lookup(em: DesignEmitter, n) -> None:
    tok = em.sig[n.inputs[0]]
    if tok.kind != "token":
        raise unsupported(n, f"a lookup of a {tok.kind} signal")
    em.body.comment("the table lives in ROMs over the token id (the next layer's operands)")
    em.sig[n.name] = Signal("embed", [], 0, {"table": np.asarray(n.arrays["table"], dtype=np.float64),
                                              "token": tok.rows[0], "tw": tok.width})
    if em.bidir is not None:
        raise unsupported(n, "an embedding before a bidirectional layer")


def embedded_input(em: DesignEmitter, n, emb: Signal) -> None:
    """The first layer's input from the embedding.  Exact rows ({-s, 0, s}): one ROM over the
    token id gives every feature's nonzero/positive bits; real rows: the input SNG bank reads
    a threshold ROM per element over the token id (see op_sng)."""
    table = emb.extra["table"]
    if not n.params.get("exact"):
        em.sig[n.name] = Signal("real_embed", [], 0, {"node": n, **emb.extra})
        return
    a = float(n.params["scale"])
    if not np.all(np.isclose(np.abs(table), a, rtol=1e-9, atol=0) | (table == 0)):
        raise unsupported(n, f"an exact input whose embedding table is not in {{-{a:g}, 0, {a:g}}}")
    e = table.shape[1]
    words = [sum(((1 if v != 0 else 0) | (2 if v > 0 else 0)) << (2 * j) for j, v in enumerate(row)) for row in table]
    rom = em.rom(f"{em.nid(n.name)}_rom", emb.extra["token"], emb.extra["tw"], words, 2 * e)
    em.sig[n.name] = Signal("tern", [f"{rom}[{2 * j}]" for j in range(e)], 1,
                            {"pos": [f"{rom}[{2 * j + 1}]" for j in range(e)], "scale": a})


def steps_of(n) -> int:
    """Number of per-step rows of the bank's constants or input gain (1: time-invariant)."""
    if "const" in n.arrays:
        c = np.asarray(n.arrays["const"])
        return int(c.shape[0]) if c.ndim == len(n.shape) + 1 else 1
    if "gain" in n.arrays:
        return int(np.asarray(n.arrays["gain"]).shape[0])
    return 1


def op_sng(em: DesignEmitter, n) -> None:
    bits = int(n.params["bits"])
    if "const" in n.arrays:
        const_sng(em, n, bits)
        return
    src = em.sig[n.inputs[0]]
    if src.kind == "cval_step":
        # a later layer reads a decoded count of an earlier one: through that layer's state
        # register, which holds step t's value during the reader's step t
        reg = em.register_of(n.inputs[0], "cval")
        producer = em.netlist.node(n.inputs[0]).layer
        if reg is None or producer == n.layer:
            raise unsupported(n, f"an SNG of {n.inputs[0]!r}")
        src = em.sig[reg["node"].name]
    base = em.nid(n.name)
    rep = int(n.params.get("repeat", 1))
    gain = np.asarray(n.arrays["gain"]) if "gain" in n.arrays else None
    if len(n.shape) == 2 and rep != n.shape[0] and gain is None:
        raise unsupported(n, "per-row SNG banks")
    rows_per = n.shape[-1]
    t_st = steps_of(n)
    if src.kind == "real":
        thr = real_port_thresholds(em, n, bits, gain, rows_per)
    elif src.kind == "tern":
        thr = exact_operand_thresholds(em, n, src, bits, rows_per, t_st)
    elif src.kind == "real_embed":
        # every element's threshold is a function of the token (and of the step, with a
        # per-step input gain): a ROM over {tsel, token}
        tsel, tw = em.tsel(t_st)
        xs = [em.sng_thresholds(n, src.extra["table"], t) for t in range(t_st)]     # (V, size) each
        vocab, aw = xs[0].shape[0], src.extra["tw"]
        addr = src.extra["token"] if tsel is None else f"{{{tsel}, {src.extra['token']}}}"
        thr = []
        for i in range(n.size):
            table = [int(xs[stats_row(t, t_st)][v, i]) if v < vocab else 0
                     for t in range(1 << tw) for v in range(1 << aw)]
            thr.append(em.rom(f"{base}_rom{i}", addr, tw + aw, table, bits + 1))
    elif gain is not None:
        raise unsupported(n, f"an input-gain SNG bank fed by a {src.kind} signal")
    elif src.kind == "gate":
        thr = gate_roms(em, n, src.extra, base, bits, rows_per) * (n.size // rows_per)
    elif src.kind == "cval":
        if "rows" in n.params or len(src.rows) != rows_per:
            raise unsupported(n, "a sliced state bank")
        reg = next(x for x in em.registers if x["q"] == src.extra["q"])
        thr = [f"{base}_x{r}" for r in range(rows_per)] * (n.size // rows_per)
        # the count -> threshold ROMs need the counter's width: written after the walk
        em.deferred.append(lambda n=n, reg=reg, src=src: state_roms(em, n, reg, src, base, bits, rows_per))
    else:
        raise unsupported(n, f"an SNG fed by a {src.kind} signal")
    sng_bank(em, n, bits, thr)


def real_port_thresholds(em: DesignEmitter, n, bits: int, gain, rows_per: int) -> list[str]:
    """The input SNG bank of real inputs: the port carries step t's thresholds of one copy (a
    per-step input gain is applied by the host: the manifest says so); copies of a per-gate bank
    share them."""
    if gain is not None and not np.all(gain == gain[:, :1]):
        raise unsupported(n, "per-row input gains of real inputs (the input port would carry one threshold "
                             "per row and input; use exact inputs, or batch norm with one bn_x/bn_h scale "
                             "ratio per step)")
    if em.x_format == "thr" and em.port != "x_in":
        # the backward direction of a bidirectional layer: the buffered thresholds of the forward's bank
        first = em.x_sng
        if (first.params.get("scale", 1.0), first.params["bits"], first.encoding, "gain" in first.arrays) != \
                (n.params.get("scale", 1.0), bits, n.encoding, gain is not None) or rows_per != em.in_size:
            raise unsupported(n, "a backward direction whose input SNGs differ from the forward direction's")
        return [em.port_expr(f"x_in[{j * (bits + 1) + bits}:{j * (bits + 1)}]")
                for j in range(rows_per)] * (n.size // rows_per)
    if em.x_format != "tern" or "rows" in n.params or rows_per != em.in_size:
        raise unsupported(n, "an input SNG bank other than one SNG per feature")
    em.x_format, em.x_width, em.x_sng = "thr", bits + 1, n
    return [f"x_in[{j * (bits + 1) + bits}:{j * (bits + 1)}]" for j in range(rows_per)] * (n.size // rows_per)


def exact_operand_thresholds(em: DesignEmitter, n, src: Signal, bits: int, rows_per: int, t_st: int) -> list[str]:
    """Exact operands (+-s / 0) into SNGs: three thresholds, selected per element (and per step
    when the bank has a per-step input gain: a ROM over {tsel, pos, nz})."""
    a = n.params["rows"][0] if "rows" in n.params else 0
    if a + rows_per > len(src.rows):
        raise unsupported(n, "operand shapes")
    sc = float(src.extra.get("scale", 1.0))
    full = len(src.rows)
    cases = np.array([[0.0] * full, [-sc] * full, [0.0] * full, [sc] * full])   # {pos, nz}
    xs = np.stack([em.sng_thresholds(n, cases, t) for t in range(t_st)])        # (T, 4, size)
    tsel, tw = em.tsel(t_st)
    base = em.nid(n.name)
    thr = []
    for i in range(n.size):
        r = i % rows_per
        nz, pos = src.rows[a + r], src.extra["pos"][a + r]
        w = f"{base}_x{i}"
        if tsel is None:
            em.decls.wire(w, bits + 1)
            em.body.assign(w, f"{nz} ? ({pos} ? {bits + 1}'d{int(xs[0, 3, i])} : "
                              f"{bits + 1}'d{int(xs[0, 1, i])}) : {bits + 1}'d{int(xs[0, 2, i])}")
            thr.append(w)
        else:
            table = [int(xs[stats_row(t, t_st), c, i]) for t in range(1 << tw) for c in range(4)]
            thr.append(em.rom(f"{base}_rom{i}", f"{{{tsel}, {pos}, {nz}}}", tw + 2, table, bits + 1))
    return thr


def sng_bank(em: DesignEmitter, n, bits: int, thr: list[str]) -> None:
    """One comparator per element of the bank (row-major over n.shape), element i compared with
    threshold expression ``thr[i]`` against the bits of its source register
    (:meth:`DesignEmitter.comparator_random`); a pruned element is a constant 0 stream."""
    em.modules.add("sc_sng")
    base = em.nid(n.name)
    rows_per = n.shape[-1]
    out = []
    for idx in range(n.size):
        k, r = divmod(idx, rows_per)
        inst = f"{base}_k{k}_r{r}" if len(n.shape) == 2 else f"{base}_r{r}"
        rr = em.comparator_random(n, idx)
        y = f"{inst}_y"
        if rr is None:
            em.decls.wire(y, init="1'b0", unused="pruned: its stream meets only zero weights", waive_statement=True)
            em.unread.append((thr[idx], f"the threshold of {inst}, a pruned comparator"))
            out.append(y)
            continue
        em.decls.wire(y)
        em.body.instance("sc_sng", f"{inst}_u_sng", [("N", bits)], [("r", rr), ("x", thr[idx]), ("y", y)])
        out.append(y)
    em.sig[n.name] = Signal("bits", out, 1, {"shape": tuple(n.shape)})


def const_sng(em: DesignEmitter, n, bits: int) -> None:
    """A bank of SNGs of constants (bias streams): thresholds wired, as the runtime computes
    them; per-step constants (batch norm statistics) read a ROM over the step index."""
    t_st = steps_of(n)
    xs = np.concatenate([em.sng_thresholds(n, None, t) for t in range(t_st)])    # (T, size)
    tsel, tw = em.tsel(t_st)
    base = em.nid(n.name)
    thr = []
    for i in range(n.size):
        col = [int(v) for v in xs[:, i]]
        if tsel is None or len(set(col)) == 1:
            thr.append(f"{bits + 1}'d{col[0]}")
        else:
            thr.append(em.rom(f"{base}_rom{i}", tsel, tw, [col[stats_row(t, t_st)] for t in range(1 << tw)], bits + 1))
    sng_bank(em, n, bits, thr)


HANDLERS = {"input": op_input, "lookup": op_lookup, "sng": op_sng}
