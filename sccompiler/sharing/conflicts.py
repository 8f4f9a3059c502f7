"""Which comparators' streams meet: the element-level stream dependencies of a netlist.

A *comparator* is one element of an SNG bank or one WFSM row's weight comparator (a bit of
randomness enters the design there).  Within one time step's cycle window, a stream element
depends on the comparators upstream of it through stream ops (XNOR, MUX, XNOR+APC rows, APCs,
WFSM inputs, slices); values and words (counters, decodes, registers) end the window.  Two
comparators *conflict* when both are ancestors of one stream element: their streams meet in that
gate, APC row or FSM input (directly or through streams derived from them), so they must not read
identical random bits.  The conflict relation is the union of the cliques ``ancestors(e)`` over
every stream element ``e``.

Ancestor sets are Python ints used as bitsets over comparator ids (fast unions for designs of
thousands of comparators); :func:`conflict_graph` builds the explicit networkx graph for
inspection and tests.  Zero weights do not make a dependency, so :func:`live_comparators` finds
the comparators whose streams only meet zero weights (pruned: docs/semantics.md §2.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from ..errors import SimulationError
from ..ir.sc import SCNetlist, SCNode
from ..sim.rules import comparator_bits

#: ops whose outputs are streams (bit or integral) built from their stream inputs
STREAM_OPS = ("sng", "wfsm", "xnor", "mux", "xnor_apc", "apc", "xnor_int", "slice", "islice")


@dataclass(frozen=True)
class Comparator:
    """One comparator: node, flat element index, random bits it reads."""

    node: str
    index: int
    bits: int


def comparators(netlist: SCNetlist, layer: str) -> list[Comparator]:
    """The comparators of one layer in netlist order (node by node, elements row-major)."""
    out = []
    for n in netlist.layer_nodes(layer):
        if n.op in ("sng", "wfsm"):
            out.extend(Comparator(n.name, i, comparator_bits(n)) for i in range(n.size))
    return out


def _stream_inputs(n: SCNode, netlist: SCNetlist) -> list[tuple[SCNode, list[list[int]]]]:
    """For each stream input of ``n``: (input node, deps) with deps[e] = the input's flat elements
    that output element e reads with a nonzero effect."""
    if n.op in ("sng",):
        return []
    ins = [netlist.node(i) for i in n.inputs]
    if n.op in ("slice", "islice"):
        a, b = n.params["rows"]
        src = ins[0]
        idx = np.arange(src.size).reshape(src.shape)[a:b].reshape(-1)
        return [(src, [[int(i)] for i in idx])]
    if n.op in ("xnor", "mux"):
        out = []
        for src in ins:
            shape = tuple(src.shape)
            pad = (1,) * (len(n.shape) - len(shape)) + shape
            idx = np.broadcast_to(np.arange(src.size).reshape(pad), tuple(n.shape)).reshape(-1)
            out.append((src, [[int(i)] for i in idx]))
        return out
    if n.op == "xnor_apc":
        src = ins[0]
        w = np.asarray(n.arrays["weights"])
        rows, m = w.shape
        if "groups" in n.params:
            per = rows // int(n.params["groups"])
            base = [(r // per) * m for r in range(rows)]
        elif len(src.shape) == 2:
            base = [r * m for r in range(rows)]
        else:
            base = [0] * rows
        return [(src, [[base[r] + int(j) for j in np.flatnonzero(w[r])] for r in range(rows)])]
    if n.op in ("apc", "xnor_int", "wfsm"):
        out = []
        for src in ins:
            if src.kind not in ("bits", "int"):
                continue
            size = n.size
            if src.size == size:
                deps = [[e] for e in range(size)]
            elif src.size % size == 0:                       # (K, R) streams summed per row
                k = src.size // size
                deps = [[q * size + e for q in range(k)] for e in range(size)]
            else:
                raise SimulationError(f"node {n.name!r}: cannot map input {src.name!r} of shape {src.shape}")
            out.append((src, deps))
        return out
    raise SimulationError(f"node {n.name!r}: no stream dependency rule for op {n.op!r}")


@dataclass
class LayerStreams:
    """The comparators of one layer, every stream element's ancestor set, and liveness."""

    comparators: list[Comparator]
    ids: dict[tuple[str, int], int]
    ancestors: dict[str, list[int]]      # node -> per element bitset of comparator ids
    cliques: list[int]                   # distinct ancestor sets with >= 2 comparators
    live: list[bool]                     # per comparator: its stream can change an output


def layer_streams(netlist: SCNetlist, layer: str) -> LayerStreams:
    """Ancestor sets and liveness of one layer's comparators (see the module docstring)."""
    comps = comparators(netlist, layer)
    ids = {(c.node, c.index): k for k, c in enumerate(comps)}
    nodes = [n for n in netlist.layer_nodes(layer) if n.op in STREAM_OPS and n.kind in ("bits", "int")]
    anc: dict[str, list[int]] = {}
    deps: dict[str, list[tuple[SCNode, list[list[int]]]]] = {}
    for n in nodes:
        own = [0] * n.size
        if n.op in ("sng", "wfsm"):
            own = [1 << ids[(n.name, e)] for e in range(n.size)]
        deps[n.name] = [(s, d) for s, d in _stream_inputs(n, netlist) if s.name in anc]
        for src, d in deps[n.name]:
            sa = anc[src.name]
            for e, elems in enumerate(d):
                acc = own[e]
                for i in elems:
                    acc |= sa[i]
                own[e] = acc
        anc[n.name] = own
    cliques = sorted({a for v in anc.values() for a in v if a & (a - 1)}, key=lambda a: -a.bit_count())
    # liveness, backwards: a stream element is live if a non-stream node (counter, decode, ...)
    # reads it, or a live element depends on it with a nonzero weight
    live_elems = {n.name: [False] * n.size for n in nodes}
    for m in netlist:                      # consumers in any layer (a later layer reading a stream)
        if m.name in live_elems:
            continue
        for i in m.inputs:
            if i in live_elems:
                live_elems[i] = [True] * len(live_elems[i])
    for n in reversed(nodes):
        mine = live_elems[n.name]
        for src, d in deps[n.name]:
            theirs = live_elems[src.name]
            for e, elems in enumerate(d):
                if mine[e]:
                    for i in elems:
                        theirs[i] = True
    live = [live_elems[c.node][c.index] for c in comps]
    return LayerStreams(comps, ids, anc, cliques, live)


def conflict_graph(streams: LayerStreams) -> nx.Graph:
    """The explicit conflict graph of one layer: a node per comparator id, an edge between two
    comparators that are ancestors of one stream element (for inspection and tests; the allocator
    colours the clique cover directly)."""
    g = nx.Graph()
    g.add_nodes_from(range(len(streams.comparators)))
    for q in streams.cliques:
        members = [k for k in range(q.bit_length()) if (q >> k) & 1]
        g.add_edges_from((a, b) for i, a in enumerate(members) for b in members[i + 1:])
    return g


def fsm_fed(netlist: SCNetlist, streams: LayerStreams, layer: str) -> list[bool]:
    """Per comparator: True if its stream reaches the input of an FSM (a WFSM's integral or bit
    input), directly or through stream ops, within the step's cycle window; or if a node of
    another layer reads a stream it reaches (conservatively: that consumer may be sequential).
    A WFSM's own weight comparator only shapes its output, so it counts through that output."""
    fed = 0
    for n in netlist.layer_nodes(layer):
        if n.op != "wfsm" or n.name not in streams.ancestors:
            continue
        for src in n.inputs:
            for a in streams.ancestors.get(src, []):
                fed |= a
    mine = {n.name for n in netlist.layer_nodes(layer)}
    for m in netlist:
        if m.name in mine:
            continue
        for i in m.inputs:
            for a in streams.ancestors.get(i, []):
                fed |= a
    return [bool((fed >> k) & 1) for k in range(len(streams.comparators))]
