"""Source registers and the bits each comparator reads (docs/semantics.md §2.4).

``private``: every live comparator gets its own LFSR register of ``width`` bits and reads its low
b bits (the seeds are the phase-spaced ones of :class:`sccompiler.sim.seeds.SourceAllocator`, by
comparator index, so a design without pruned comparators is the one of earlier versions).

``shared``: per layer, the comparators' conflict relation (:mod:`.conflicts`) is coloured
greedily (largest degree first) over its clique cover.  Each colour gets a *window* of b
contiguous bits of a source register, windows of one register are disjoint, and a register holds
as many windows as fit in ``width`` bits (and, with ``fanout``, serves at most that many
comparators).  Conflicting comparators have different colours, hence disjoint bits of the same
state s_t (or different registers): since an m-sequence LFSR's state runs over every nonzero
value once per period, disjoint bits of one state are jointly uniform over the period --
provably independent up to the missing all-zero state -- whatever the register.  Comparators of
one colour never meet and read the same bits.  A register is as wide as its windows need (at
least :data:`MIN_SHARED_WIDTH` bits, a width whose leap ``A^W`` keeps the full period).

``source: sobol | auto`` (docs/semantics.md §2.5): the comparators the kind assigns to Sobol
(:func:`source_kinds`; ``auto``: those whose streams reach no FSM) are coloured among
themselves, one Sobol register per colour (a dimension from :func:`choose_dimensions`, the top
bits read); the LFSR comparators are allocated as above among themselves.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..config import SOURCE_MODES, SOURCES
from ..errors import ConfigError
from ..ir.sc import SCNetlist
from ..sim.rules import comparator_bits
from ..sim.seeds import SourceAllocator
from ..sim.sources import MAX_WIDTH, SOBOL_MAX_DIMS, sobol_direction_count, sobol_first_rows
from .conflicts import LayerStreams, fsm_fed, layer_streams

#: narrowest shared register (period 2^16 - 1: no stream repeats within a run of L <= 4096 cycles
#: of one register leaping 16 steps per cycle)
MIN_SHARED_WIDTH = 16


def full_period_width(width: int) -> bool:
    """True if a W-bit LFSR leaping W steps per clock keeps the full period 2^W - 1."""
    return math.gcd(width, (1 << width) - 1) == 1


def register_width(used: int) -> int:
    """The narrowest register width >= max(used, MIN_SHARED_WIDTH) with a full-period leap."""
    w = max(int(used), MIN_SHARED_WIDTH)
    while not full_period_width(w):
        w += 1
    return w


def colour(streams: LayerStreams) -> list[int]:
    """Greedy colouring of the conflict relation (largest degree first): colour per comparator.

    Works on the clique cover: a comparator's forbidden colours are the union of the colours
    already used in its cliques (bitsets), so no explicit edge list is built."""
    n = len(streams.comparators)
    member_of: list[list[int]] = [[] for _ in range(n)]
    for q, clique in enumerate(streams.cliques):
        c = clique
        while c:
            low = c & -c
            member_of[low.bit_length() - 1].append(q)
            c ^= low
    neighbours = [0] * n
    for k in range(n):
        acc = 0
        for q in member_of[k]:
            acc |= streams.cliques[q]
        neighbours[k] = acc & ~(1 << k)
    order = sorted(range(n), key=lambda k: (-neighbours[k].bit_count(), k))
    used = [0] * len(streams.cliques)
    colours = [0] * n
    for k in order:
        forbidden = 0
        for q in member_of[k]:
            forbidden |= used[q]
        c = (~forbidden & (forbidden + 1)).bit_length() - 1           # lowest free colour
        colours[k] = c
        for q in member_of[k]:
            used[q] |= 1 << c
    return colours


def _pack(colours: list[int], bits: list[int], live: list[bool], width: int, fanout: int | None):
    """Windows of colours in registers: returns (per comparator (register, offset) or None,
    per register used bits)."""
    members: dict[int, list[int]] = {}
    for k, c in enumerate(colours):
        if live[k]:
            members.setdefault(c, []).append(k)
    need = {c: max(bits[k] for k in ks) for c, ks in members.items()}
    free_bits: list[int] = []
    free_fan: list[float] = []
    where: list[tuple[int, int] | None] = [None] * len(colours)
    cap = math.inf if fanout is None else fanout
    for c in sorted(members, key=lambda c: (-need[c], c)):
        todo = list(members[c])
        while todo:
            reg = next((r for r in range(len(free_bits)) if free_bits[r] >= need[c] and free_fan[r] > 0), None)
            if reg is None:
                free_bits.append(width)
                free_fan.append(cap)
                reg = len(free_bits) - 1
            off = width - free_bits[reg]
            take = todo[:int(min(len(todo), free_fan[reg]))]
            todo = todo[len(take):]
            for k in take:
                where[k] = (reg, off)
            free_bits[reg] -= need[c]
            free_fan[reg] -= len(take)
    return where, [width - f for f in free_bits]


def source_kinds(netlist: SCNetlist, s: LayerStreams, layer: str, kind: str) -> list[str]:
    """Per comparator of one layer, the kind of source it reads: ``lfsr`` / ``sobol`` for every
    comparator, or ``auto``: Sobol where its stream feeds only combinational consumers (XNOR
    products into counters, APCs, integral adds), LFSR where it reaches an FSM input
    (:func:`.conflicts.fsm_fed`: autocorrelated inputs break FSMs)."""
    if kind in ("lfsr", "sobol"):
        return [kind] * len(s.comparators)
    return ["lfsr" if f else "sobol" for f in fsm_fed(netlist, s, layer)]


def restricted(s: LayerStreams, keep: list[bool]) -> LayerStreams:
    """The conflict relation among the comparators with ``keep`` (the others conflict with none)."""
    mask = sum(1 << k for k, x in enumerate(keep) if x)
    cliques = sorted({q & mask for q in s.cliques if (q & mask) & ((q & mask) - 1)}, key=lambda a: -a.bit_count())
    return replace(s, cliques=cliques)


def choose_dimensions(s: LayerStreams, cols: list[int], want: list[bool], colours: list[int],
                      window: int) -> dict[int, int]:
    """A Sobol dimension per colour: conflicting colours (a clique holds members of both) get
    distinct dimensions whose generator matrices have distinct first rows over the window's
    direction numbers wherever possible (:func:`sobol_first_rows`: equal rows mean identical top
    random bits, SCC = +-1 at probability 1/2; distinct rows make the top bits of the first
    2^m points jointly uniform), else the row least used among its conflicting colours.  Colours
    go in order (the colouring puts the busiest first), each taking the lowest fitting dimension."""
    mask = sum(1 << k for k, x in enumerate(want) if x)
    index = {c: i for i, c in enumerate(colours)}
    adj = [0] * len(colours)                 # per colour: bitset of the colours it conflicts with
    for q in s.cliques:
        q &= mask
        here, members = 0, []
        while q:
            low = q & -q
            i = index[cols[low.bit_length() - 1]]
            here |= 1 << i
            members.append(i)
            q ^= low
        for i in set(members):
            adj[i] |= here
    count = sobol_direction_count(window)
    dims = min(SOBOL_MAX_DIMS, 4 * len(colours) + 64)
    rows = sobol_first_rows(dims, count)
    dim_of = np.full(len(colours), -1, dtype=np.int64)
    for i in range(len(colours)):
        nb = adj[i] & ~(1 << i)
        done = []
        while nb:
            low = nb & -nb
            j = low.bit_length() - 1
            if dim_of[j] >= 0:
                done.append(int(dim_of[j]))
            nb ^= low
        score = np.bincount(rows[done], minlength=1 << count)[rows].astype(np.float64) if done \
            else np.zeros(dims)
        score[done] = np.inf                                     # distinct dimensions, always
        dim_of[i] = int(np.argmin(score))                         # the lowest of the least-clashing
    out = {c: int(dim_of[index[c]]) for c in colours}
    return out


def _sobol_registers(s: LayerStreams, layer: str, want: list[bool], private: bool, fanout: int | None,
                     first: int, window: int) -> tuple[list[dict], list[tuple[int, int] | None]]:
    """Sobol registers of one layer (one per colour: its dimension from :func:`choose_dimensions`;
    with a fan-out cap, copies) and each Sobol comparator's (register, first tap) -- the top b
    bits of the register's point."""
    n = len(s.comparators)
    if not any(want):
        return [], [None] * n
    if private:
        cols, d = [0] * n, 0
        for k in range(n):
            if want[k]:
                cols[k], d = d, d + 1
    else:
        cols = colour(restricted(s, want))
    members: dict[int, list[int]] = {}
    for k in range(n):
        if want[k]:
            members.setdefault(cols[k], []).append(k)
    if len(members) > SOBOL_MAX_DIMS // 2:
        raise ConfigError(f"source: layer {layer!r} needs {len(members)} Sobol dimensions, more than "
                          f"{SOBOL_MAX_DIMS // 2} (half the Joe-Kuo table); use source: lfsr or auto")
    dim_of = choose_dimensions(s, cols, want, sorted(members), window)
    registers: list[dict] = []
    where: list[tuple[int, int] | None] = [None] * n
    cap = len(s.comparators) if fanout is None else fanout
    for c in sorted(members):
        ks = members[c]
        b = max(s.comparators[k].bits for k in ks)
        for i in range(0, len(ks), max(cap, 1)):
            registers.append({"layer": layer, "kind": "sobol", "width": b, "dim": dim_of[c], "seed": 0})
            for k in ks[i:i + cap]:
                where[k] = (first + len(registers) - 1, b - s.comparators[k].bits)
    return registers, where


def _sobol_shifts(registers: list[dict], seed: int) -> None:
    """Digital shifts (reset values) of the Sobol registers: per layer and dimension one uniform
    32-bit draw of PCG64([seed, 0x50B01, layer index, dim]), of which a b-bit register takes the
    top b bits (registers of one dimension agree on the bits their comparators read)."""
    layers: dict[str, int] = {}
    for r in registers:
        if r.get("kind") != "sobol":
            continue
        li = layers.setdefault(r["layer"], len(layers))
        draw = int(np.random.default_rng([int(seed), 0x50B01, li, int(r["dim"])]).integers(0, 1 << 32))
        r["seed"] = draw >> (32 - int(r["width"]))


def allocate(netlist: SCNetlist, *, mode: str = "shared", width: int = 32, seed: int = 1, kind: str = "lfsr",
             fanout: int | None = None) -> tuple[SCNetlist, dict]:
    """The netlist with its source registers (``sources['registers']``) and every comparator's
    ``src`` / ``taps`` arrays; and a summary for the report."""
    if mode not in SOURCE_MODES:
        raise ConfigError(f"sources: must be one of {', '.join(SOURCE_MODES)}; got {mode!r}")
    if kind not in SOURCES:
        raise ConfigError(f"source: must be one of {', '.join(SOURCES)}; got {kind!r}")
    if fanout is not None and (isinstance(fanout, bool) or not isinstance(fanout, int) or fanout < 1):
        raise ConfigError("source_fanout: must be a positive integer (comparators per source register), "
                          f"got {fanout!r}")
    if fanout is not None and mode == "private":
        raise ConfigError("source_fanout: applies to sources: shared (a private register feeds one comparator); "
                          "remove it or set sources: shared")
    if not 1 <= width <= MAX_WIDTH:
        raise ConfigError(f"lfsr_width: must be in [1, {MAX_WIDTH}], got {width!r}")
    too_wide = [(n.name, comparator_bits(n)) for n in netlist
                if n.op in ("sng", "wfsm") and comparator_bits(n) > width]
    if too_wide:
        name, b = too_wide[0]
        raise ConfigError(f"lfsr_width: {width}-bit source registers are too narrow for the {b}-bit comparators of "
                          f"{name!r}; raise lfsr_width to >= {b} or lower sng_bits / fsm_weight_bits")
    max_len = max([p.length for p in netlist.layers] + [1])
    registers: list[dict] = []
    wiring: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    layers_summary = {}
    total = pruned = n_sobol = 0
    streams_by_layer = {p.name: layer_streams(netlist, p.name) for p in netlist.layers}
    kinds_by_layer = {p.name: source_kinds(netlist, s, p.name, kind) for p, s in
                      zip(netlist.layers, streams_by_layer.values())}
    if mode == "private":
        count = sum(len(s.comparators) for s in streams_by_layer.values())
        alloc = SourceAllocator(kind="lfsr", width=width, length=max_len, master_seed=seed, max_sources=max(count, 1))
        seeds = alloc.bank_seeds(0, count) if count else np.zeros(0, dtype=np.uint64)
        k = 0
        for p in netlist.layers:
            s, kinds = streams_by_layer[p.name], kinds_by_layer[p.name]
            want = [alive and kd == "sobol" for alive, kd in zip(s.live, kinds)]
            sob, sob_where = _sobol_registers(s, p.name, want, True, None, len(registers), max(1, p.length or 1))
            registers.extend(sob)
            where = []
            for j, (c, alive) in enumerate(zip(s.comparators, s.live)):
                if alive and want[j]:
                    where.append(sob_where[j])
                elif alive:
                    registers.append({"layer": p.name, "width": width, "seed": int(seeds[k])})
                    where.append((len(registers) - 1, 0))
                else:
                    where.append(None)
                k += 1
            _wire(netlist, s, where, wiring)
            n_pruned = s.live.count(False)
            layers_summary[p.name] = {"comparators": len(s.comparators), "pruned": n_pruned,
                                      "registers": len(s.comparators) - n_pruned, "sobol_registers": len(sob)}
            total += len(s.comparators)
            pruned += n_pruned
            n_sobol += sum(want)
    else:
        pending = []
        for p in netlist.layers:
            s, kinds = streams_by_layer[p.name], kinds_by_layer[p.name]
            if not s.comparators:
                continue
            lf = [kd == "lfsr" for kd in kinds]
            want = [alive and kd == "sobol" for alive, kd in zip(s.live, kinds)]
            cols = colour(s if all(lf) else restricted(s, lf))
            where, used = _pack(cols, [c.bits for c in s.comparators], [a and x for a, x in zip(s.live, lf)],
                                width, fanout)
            first = len(registers)
            for u in used:
                registers.append({"layer": p.name, "width": register_width(u), "seed": 0})
            where = [None if w is None else (first + w[0], w[1]) for w in where]
            sob, sob_where = _sobol_registers(s, p.name, want, False, fanout, len(registers), max(1, p.length or 1))
            registers.extend(sob)
            where = [sw if want[j] else w for j, (w, sw) in enumerate(zip(where, sob_where))]
            pending.append((s, where))
            n_pruned = s.live.count(False)
            live_cols = {c for c, alive, x in zip(cols, s.live, lf) if alive and x}
            mine = range(first, len(registers))
            layers_summary[p.name] = {"comparators": len(s.comparators), "pruned": n_pruned,
                                      "colours": len(live_cols), "registers": len(used),
                                      "max_fanout": max([sum(1 for w in where if w is not None and w[0] == r)
                                                         for r in mine] + [0]),
                                      "sobol_comparators": sum(want), "sobol_registers": len(sob),
                                      "sobol_dimensions": len({r["dim"] for r in sob})}
            total += len(s.comparators)
            pruned += n_pruned
            n_sobol += sum(want)
        # seeds: per width, phase-spaced over every LFSR register of that width in the design
        lfsr_regs = [k for k, r in enumerate(registers) if r.get("kind", "lfsr") == "lfsr"]
        for w in sorted({registers[k]["width"] for k in lfsr_regs}):
            idx = [k for k in lfsr_regs if registers[k]["width"] == w]
            alloc = SourceAllocator(kind="lfsr", width=w, length=max_len, master_seed=seed, max_sources=len(idx))
            for k, s_ in zip(idx, alloc.bank_seeds(0, len(idx))):
                registers[k]["seed"] = int(s_)
        for s, where in pending:
            _wire(netlist, s, where, wiring)
    _sobol_shifts(registers, seed)
    nodes = []
    for n in netlist:
        if n.name in wiring:
            src, taps = wiring[n.name]
            arrays = {k: v for k, v in n.arrays.items() if k not in ("seeds", "wseeds")}
            n = n.replace(arrays={**arrays, "src": src, "taps": taps})
        nodes.append(n)
    widths: dict[int, int] = {}
    for r in registers:
        if r.get("kind", "lfsr") == "lfsr":
            widths[r["width"]] = widths.get(r["width"], 0) + 1
    sobol = [r for r in registers if r.get("kind") == "sobol"]
    sources = {"kind": kind, "mode": mode, "width": width, "master_seed": seed, "count": len(registers),
               "comparators": total, "pruned": pruned, "fanout_cap": fanout, "window_cycles": max_len,
               "registers": registers}
    summary = {"mode": mode, "kind": kind, "registers": len(registers),
               "register_widths": {str(k): v for k, v in sorted(widths.items())},
               "register_bits": int(sum(r["width"] for r in registers)), "comparators": total, "pruned": pruned,
               "sobol_comparators": n_sobol, "sobol_registers": len(sobol),
               "fanout_cap": fanout, "layers": layers_summary}
    return netlist.with_nodes(nodes).replace(sources=sources), summary


def _wire(netlist: SCNetlist, s: LayerStreams, where, wiring: dict) -> None:
    """src / taps arrays of every comparator node of one layer from the (register, offset) of
    each comparator (None: pruned)."""
    by_node: dict[str, list[int]] = {}
    for k, c in enumerate(s.comparators):
        by_node.setdefault(c.node, []).append(k)
    for name, ks in by_node.items():
        n = netlist.node(name)
        b = comparator_bits(n)
        src = np.full(n.size, -1, dtype=np.int32)
        taps = np.zeros((n.size, b), dtype=np.uint8)
        for k in ks:
            c = s.comparators[k]
            if where[k] is not None:
                reg, off = where[k]
                src[c.index] = reg
                taps[c.index] = np.arange(off, off + b)
        wiring[name] = (src.reshape(n.shape), taps.reshape(tuple(n.shape) + (b,)))
