"""Netlists of SC primitives and their cycle-accurate simulation.

A :class:`Netlist` is built node by node (inputs must exist before use, so insertion order is a
topological order).  Every port has a type: ``bit`` (a stochastic stream, one bit per cycle),
``int`` (an integral stream, one integer per cycle) or ``word`` (a binary register value, read at
the end of a run).  Every SNG draws from a named source of the netlist's
:class:`~sccompiler.sim.seeds.SourceAllocator`; a fresh independent source is allocated unless
the caller names an existing one (explicit sharing).  Gates whose operands depend on a common
source are rejected when built unless ``shared_ok=True`` is given.

:class:`Simulator` runs a netlist for ``length`` cycles over a batch: sources are per design and
shared by every batch element (as in hardware, where each sample runs through the same circuit
from the same reset), bit streams are packed 64 lanes per uint64 word, sequential elements run in
numba kernels, and cycles are processed in chunks so memory stays bounded.  ``run(..., state=s)``
continues from the registers of a previous run (time-stepped use), otherwise all registers reset.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..errors import SCValueError, SimulationError
from .encoding import ENCODINGS, check_range, quantize_weights, threshold
from .packed import pack_bits, packed_gate, unpack_bits
from .rules import check_int, fsm_reset_state, int_mac, int_mac_operands, stanh_threshold
from .seeds import SourceAllocator, check_uncorrelated
from .sources import SourceSpec, byte_tables, leap_matrix, vdc_sequence

BIT, INT, WORD, VALUE = "bit", "int", "word", "value"
GATES2 = ("and", "or", "xor", "xnor")
INT_MIN = -(1 << 62)
INT_MAX = 1 << 62


@dataclass(frozen=True)
class Node:
    """One primitive instance: ``op`` applied to the named ``inputs`` with ``params``."""

    name: str
    op: str
    inputs: tuple[str, ...]
    kind: str
    params: tuple[tuple[str, Any], ...] = ()

    def param(self, key: str, default: Any = None) -> Any:
        for k, v in self.params:
            if k == key:
                return v
        return default


class Netlist:
    """Builder of a netlist of SC primitives (see the module docstring)."""

    def __init__(self, allocator: SourceAllocator | None = None) -> None:
        self.allocator = allocator if allocator is not None else SourceAllocator()
        self.nodes: dict[str, Node] = {}
        self._deps: dict[str, frozenset[str]] = {}

    # ------------------------------------------------------------------ helpers
    def _new_name(self, op: str, name: str | None) -> str:
        if name is None:
            name = f"{op}{len(self.nodes)}"
        if not isinstance(name, str) or not name:
            raise SCValueError("name", f"must be a non-empty string, got {name!r}")
        if name in self.nodes:
            raise SCValueError("name", f"node {name!r} already exists")
        return name

    def _require(self, ref: str, kinds: tuple[str, ...], param: str) -> str:
        if ref not in self.nodes:
            raise SCValueError(param, f"unknown node {ref!r}")
        if self.nodes[ref].kind not in kinds:
            raise SCValueError(param, f"node {ref!r} is a {self.nodes[ref].kind} port; "
                                      f"expected {' or '.join(kinds)}")
        return ref

    def _add(self, name: str, op: str, inputs: tuple[str, ...], kind: str,
             deps: frozenset[str], **params: Any) -> str:
        self.nodes[name] = Node(name, op, inputs, kind, tuple(sorted(params.items())))
        self._deps[name] = deps
        return name

    def _source(self, source: str | None, name: str) -> SourceSpec:
        return self.allocator.allocate(f"{name}.src") if source is None \
            else self.allocator.get(source)

    def _check_independent(self, gate: str, refs: dict[str, str], shared_ok: bool) -> None:
        if shared_ok:
            return
        items = list(refs.items())
        for i, (pa, a) in enumerate(items):
            for pb, b in items[i + 1:]:
                common = self._deps[a] & self._deps[b]
                if common:
                    raise SimulationError(
                        f"{gate}: operands {pa}={a!r} and {pb}={b!r} share source(s) "
                        f"{sorted(common)}; pass shared_ok=True if the design intends it")

    def deps(self, ref: str) -> frozenset[str]:
        """Names of the sources a node's value depends on."""
        return self._deps[ref]

    def kind(self, ref: str) -> str:
        return self.nodes[ref].kind

    # ------------------------------------------------------------------ primitives
    def input(self, name: str, encoding: str = "bipolar") -> str:
        """A per-sample input value (B,) in the encoding's range."""
        if encoding not in ENCODINGS:
            raise SCValueError("encoding", f"must be one of {ENCODINGS}, got {encoding!r}")
        return self._add(self._new_name("in", name), "input", (), VALUE, frozenset(),
                         encoding=encoding)

    def sng(self, value: str | float, *, bits: int | None = None, source: str | None = None,
            encoding: str = "bipolar", name: str | None = None) -> str:
        """SNG: bit = R < X with X = floor(p 2^bits + 1/2) from an input node or a constant."""
        name = self._new_name("sng", name)
        if encoding not in ENCODINGS:
            raise SCValueError("encoding", f"must be one of {ENCODINGS}, got {encoding!r}")
        spec = self._source(source, name)
        nbits = spec.width if bits is None else check_int("bits", bits, 1, spec.width)
        if isinstance(value, str):
            ref = self._require(value, (VALUE,), "value")
            if self.nodes[ref].param("encoding") != encoding:
                raise SCValueError("encoding", f"input {ref!r} is "
                                   f"{self.nodes[ref].param('encoding')}, SNG is {encoding}")
            return self._add(name, "sng", (ref,), BIT, frozenset({spec.name}),
                             bits=nbits, source=spec.name, encoding=encoding)
        lo = -1.0 if encoding == "bipolar" else 0.0
        const = float(check_range(value, lo, 1.0, "value"))
        return self._add(name, "sng", (), BIT, frozenset({spec.name}), bits=nbits,
                         source=spec.name, encoding=encoding, const=const)

    def not_(self, a: str, *, name: str | None = None) -> str:
        self._require(a, (BIT,), "a")
        return self._add(self._new_name("not", name), "not", (a,), BIT, self._deps[a])

    def gate(self, op: str, a: str, b: str, *, shared_ok: bool = False,
             name: str | None = None) -> str:
        """Two-input gate: and / or / xor / xnor (operands must be independent)."""
        if op not in GATES2:
            raise SCValueError("op", f"must be one of {GATES2}, got {op!r}")
        self._require(a, (BIT,), "a")
        self._require(b, (BIT,), "b")
        self._check_independent(op, {"a": a, "b": b}, shared_ok)
        return self._add(self._new_name(op, name), op, (a, b), BIT,
                         self._deps[a] | self._deps[b], shared_ok=shared_ok)

    def and_(self, a: str, b: str, **kw: Any) -> str:
        return self.gate("and", a, b, **kw)

    def or_(self, a: str, b: str, **kw: Any) -> str:
        return self.gate("or", a, b, **kw)

    def xor(self, a: str, b: str, **kw: Any) -> str:
        return self.gate("xor", a, b, **kw)

    def xnor(self, a: str, b: str, **kw: Any) -> str:
        return self.gate("xnor", a, b, **kw)

    def mux(self, sel: str, a: str, b: str, *, shared_ok: bool = False,
            name: str | None = None) -> str:
        """out = sel ? a : b; sel must be independent of a and b (a, b may be correlated)."""
        for p, r in (("sel", sel), ("a", a), ("b", b)):
            self._require(r, (BIT,), p)
        self._check_independent("mux", {"sel": sel, "a": a}, shared_ok)
        self._check_independent("mux", {"sel": sel, "b": b}, shared_ok)
        return self._add(self._new_name("mux", name), "mux", (sel, a, b), BIT,
                         self._deps[sel] | self._deps[a] | self._deps[b], shared_ok=shared_ok)

    def apc(self, inputs: list[str] | tuple[str, ...], *, bipolar: bool = True,
            shared_ok: bool = False, name: str | None = None) -> str:
        """Parallel counter: k_t = ones among M bits (bipolar: d_t = 2 k_t - M), an int stream."""
        refs = tuple(inputs)
        if not refs:
            raise SCValueError("inputs", "an APC needs at least one input")
        for r in refs:
            self._require(r, (BIT,), "inputs")
        self._check_independent("apc", {f"inputs[{i}]": r for i, r in enumerate(refs)},
                                shared_ok)
        deps = frozenset().union(*(self._deps[r] for r in refs))
        return self._add(self._new_name("apc", name), "apc", refs, INT, deps,
                         bipolar=bool(bipolar))

    def add(self, inputs: list[str] | tuple[str, ...], *, name: str | None = None) -> str:
        """Integral add: per-cycle sum of int streams."""
        refs = tuple(inputs)
        if not refs:
            raise SCValueError("inputs", "add needs at least one input")
        for r in refs:
            self._require(r, (INT,), "inputs")
        deps = frozenset().union(*(self._deps[r] for r in refs))
        return self._add(self._new_name("add", name), "add", refs, INT, deps)

    def counter(self, a: str, *, name: str | None = None) -> str:
        """Up counter c <- c + bit (reset 0): the number of ones, a word."""
        self._require(a, (BIT,), "a")
        return self._add(self._new_name("cnt", name), "counter", (a,), WORD, self._deps[a])

    def updown(self, a: str, *, lo: int | None = None, hi: int | None = None, reset: int = 0,
               name: str | None = None) -> str:
        """Up/down counter c <- clamp(c + d, lo, hi), d = 2 bit - 1 or an int stream's value."""
        self._require(a, (BIT, INT), "a")
        lo_v = INT_MIN if lo is None else check_int("lo", lo, INT_MIN, INT_MAX)
        hi_v = INT_MAX if hi is None else check_int("hi", hi, INT_MIN, INT_MAX)
        if lo_v > hi_v:
            raise SCValueError("lo", f"lower bound {lo_v} exceeds upper bound {hi_v}")
        r = check_int("reset", reset, lo_v, hi_v)
        return self._add(self._new_name("updown", name), "updown", (a,), WORD, self._deps[a],
                         lo=lo_v, hi=hi_v, reset=r)

    def fsm(self, a: str, *, states: int, reset: int | None = None, weights=None,
            weight_bits: int = 8, source: str | None = None, name: str | None = None) -> str:
        """Saturating FSM (bit input: linear, int input: integer-step) with a weighted output
        ``y = R' < Wq[s]`` from its own source, or Stanh (``weights=None``, N even)."""
        name = self._new_name("fsm", name)
        self._require(a, (BIT, INT), "a")
        n = check_int("states", states, 2, 1 << 16)
        r = fsm_reset_state(n) if reset is None else check_int("reset", reset, 0, n - 1)
        deps = self._deps[a]
        if weights is None:
            stanh_threshold(n)  # Stanh is a state decode (no weight source): even N only
            return self._add(name, "fsm", (a,), BIT, deps, states=n, reset=r)
        b = check_int("weight_bits", weight_bits, 1, 32)
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,):
            raise SCValueError("weights", f"must have shape ({n},), got {w.shape}")
        wq = tuple(int(v) for v in quantize_weights(w, b, "weights"))
        spec = self._source(source, name)
        if b > spec.width:
            raise SCValueError("weight_bits", f"{b} exceeds the width {spec.width} of source "
                                              f"{spec.name!r}")
        if spec.name in deps:
            raise SimulationError(f"fsm {name!r}: weight source {spec.name!r} also drives its "
                                  "input; the output would be correlated with the input")
        return self._add(name, "fsm", (a,), BIT, deps | {spec.name}, states=n, reset=r,
                         wq=wq, weight_bits=b, source=spec.name)

    def int_mac(self, counts: list[str] | tuple[str, ...], weights, *, name: str | None = None) -> str:
        """A fixed-point head's accumulators (a word per row, (B, R)): acc_r = sum_j W_rj (2 c_j - L)
        over the up counters ``counts`` (c_j: ones of stream j in this run of L cycles), the
        integer rule :func:`~.rules.int_mac` of the bipolar counts :func:`~.rules.int_mac_operands`."""
        refs = tuple(counts)
        if not refs:
            raise SCValueError("counts", "int_mac needs at least one counter")
        for r in refs:
            self._require(r, (WORD,), "counts")
            if self.nodes[r].op != "counter":
                raise SCValueError("counts", f"node {r!r} is a {self.nodes[r].op}, expected an up counter")
        w = np.asarray(weights)
        if w.ndim != 2 or w.shape[1] != len(refs) or not np.all(w == np.rint(w)):
            raise SCValueError("weights", f"must be an integer (rows, {len(refs)}) array, got shape {w.shape}")
        deps = frozenset().union(*(self._deps[r] for r in refs))
        return self._add(self._new_name("int_mac", name), "int_mac", refs, WORD, deps,
                         wq=tuple(map(tuple, w.astype(np.int64).tolist())))

    def sign(self, a: str, *, threshold: int = 0, name: str | None = None) -> str:
        """Binary threshold of a word at the end of a run: 1 if value >= threshold."""
        self._require(a, (WORD,), "a")
        check_int("threshold", threshold, INT_MIN, INT_MAX)
        return self._add(self._new_name("sign", name), "sign", (a,), WORD, self._deps[a],
                         threshold=int(threshold))


# ---------------------------------------------------------------------------- simulation
@dataclass
class SimState:
    """Registers carried between runs: source positions, FSM states, counter values, cycle."""

    cycle: int = 0
    sources: dict[str, Any] = field(default_factory=dict)
    fsm: dict[str, np.ndarray] = field(default_factory=dict)
    counters: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class SimResult:
    """values: final words (B,) per word node; streams: (B, L) per requested stream."""

    values: dict[str, np.ndarray]
    streams: dict[str, np.ndarray]
    state: SimState


class Simulator:
    """Cycle-accurate simulator of a :class:`Netlist` (see the module docstring)."""

    #: element budget (cycles x lanes) of one chunk per node
    chunk_elements: int = 1 << 20

    def __init__(self, netlist: Netlist) -> None:
        self.netlist = netlist

    def _check_inputs(self, inputs: Mapping[str, Any], batch: int | None) -> tuple[dict, int]:
        nodes = self.netlist.nodes
        declared = [n for n, nd in nodes.items() if nd.op == "input"]
        unknown = sorted(set(inputs) - set(declared))
        if unknown:
            raise SCValueError("inputs", f"unknown input(s) {unknown}")
        missing = sorted(set(declared) - set(inputs))
        if missing:
            raise SCValueError("inputs", f"missing input(s) {missing}")
        values = {}
        for name in declared:
            arr = np.asarray(inputs[name], dtype=np.float64)
            lo = -1.0 if nodes[name].param("encoding") == "bipolar" else 0.0
            values[name] = check_range(arr, lo, 1.0, f"inputs[{name!r}]")
            if arr.ndim != 1:
                raise SCValueError(f"inputs[{name!r}]", f"must be 1-D (B,), got {arr.shape}")
        sizes = {v.shape[0] for v in values.values()}
        if batch is not None:
            check_int("batch", batch, 1)
            sizes.add(batch)
        if len(sizes) > 1:
            raise SCValueError("inputs", f"inconsistent batch sizes {sorted(sizes)}")
        if not sizes:
            raise SCValueError("batch", "give batch= when the netlist has no inputs")
        b = sizes.pop()
        if b < 1:
            raise SCValueError("batch", "must be >= 1")
        return values, b

    def run(self, inputs: Mapping[str, Any] | None = None, length: int = 1024, *,
            batch: int | None = None, streams: tuple[str, ...] | list[str] = (),
            state: SimState | None = None, chunk_cycles: int | None = None,
            check_correlation: bool = False) -> SimResult:
        """Simulate ``length`` cycles; return final word values and the requested streams."""
        from .kernels import fsm_streams_out, lfsr_state_sequence, updown_streams  # noqa: PLC0415

        nl = self.netlist
        values, b = self._check_inputs(inputs or {}, batch)
        check_int("length", length, 1)
        for s in streams:
            if s not in nl.nodes or nl.nodes[s].kind not in (BIT, INT):
                raise SCValueError("streams", f"{s!r} is not a bit or int node")
        nodes = list(nl.nodes.values())
        if chunk_cycles is None:
            chunk_cycles = max(1, self.chunk_elements // b)
        chunk_cycles = check_int("chunk_cycles", chunk_cycles, 1)
        st = self._initial_state(b) if state is None else self._continue(state, b)
        counts_at_start = {k: v.copy() for k, v in st.counters.items()}   # int_mac reads this run's counts
        thresholds = {}
        for nd in nodes:
            if nd.op == "sng":
                v = nd.param("const") if not nd.inputs else values[nd.inputs[0]]
                thresholds[nd.name] = threshold(np.broadcast_to(v, (b,)), nd.param("bits"),
                                                nd.param("encoding")).astype(np.uint64)
        out_streams: dict[str, list[np.ndarray]] = {s: [] for s in streams}
        specs = nl.allocator.sources
        done = 0
        checked = not check_correlation
        while done < length:
            lc = min(chunk_cycles, length - done)
            rvals = {name: self._source_chunk(specs[name], st, lc, lfsr_state_sequence)
                     for name in specs}
            wires: dict[str, np.ndarray] = {}
            for nd in nodes:
                op = nd.op
                if op == "input":
                    continue
                if op == "sng":
                    r = self._bits_of(specs[nd.param("source")], rvals[nd.param("source")],
                                      nd.param("bits"), st.cycle, lc)
                    wires[nd.name] = pack_bits(r[:, None] < thresholds[nd.name][None, :])
                elif op == "not":
                    wires[nd.name] = packed_gate("not", wires[nd.inputs[0]])
                elif op in GATES2:
                    wires[nd.name] = packed_gate(op, wires[nd.inputs[0]], wires[nd.inputs[1]])
                elif op == "mux":
                    s_, a, c = (wires[i] for i in nd.inputs)
                    wires[nd.name] = packed_gate("mux", a, c, s_)
                elif op == "apc":
                    k = np.zeros((lc, b), dtype=np.int32)
                    for i in nd.inputs:
                        k += unpack_bits(wires[i], b)
                    wires[nd.name] = 2 * k - len(nd.inputs) if nd.param("bipolar") else k
                elif op == "add":
                    wires[nd.name] = np.sum([wires[i] for i in nd.inputs], axis=0,
                                            dtype=np.int32)
                elif op == "counter":
                    st.counters[nd.name] += unpack_bits(wires[nd.inputs[0]], b).sum(axis=0)
                elif op == "updown":
                    steps = self._steps(nd.inputs[0], wires, b)
                    updown_streams(steps, nd.param("lo"), nd.param("hi"), st.counters[nd.name])
                elif op == "fsm":
                    steps = self._steps(nd.inputs[0], wires, b)
                    y = np.empty((lc, b), dtype=np.bool_)
                    n = nd.param("states")
                    half = 0  # the Stanh decode threshold; unused by a weighted FSM
                    if nd.param("wq") is None:
                        rw = np.zeros((0, b), dtype=np.uint64)
                        wq = np.zeros(n, dtype=np.uint64)
                        half = stanh_threshold(n)
                    else:
                        src = nd.param("source")
                        r = self._bits_of(specs[src], rvals[src], nd.param("weight_bits"),
                                          st.cycle, lc)
                        rw = np.ascontiguousarray(np.broadcast_to(r[:, None], (lc, b)))
                        wq = np.asarray(nd.param("wq"), dtype=np.uint64)
                    fsm_streams_out(steps, rw, wq, half, n, st.fsm[nd.name], y)
                    wires[nd.name] = pack_bits(y)
                if not checked and op in GATES2 + ("mux",) and not nd.param("shared_ok"):
                    ops = {i: unpack_bits(wires[i], b).T for i in nd.inputs}
                    check_uncorrelated(ops, gate=f"{op} {nd.name!r}")
            checked = True
            for s in streams:
                w = wires[s]
                out_streams[s].append(unpack_bits(w, b).T if nl.nodes[s].kind == BIT else w.T)
            st.cycle += lc
            done += lc
        result_values: dict[str, np.ndarray] = {}
        for nd in nodes:
            if nd.op in ("counter", "updown"):
                result_values[nd.name] = st.counters[nd.name].copy()
            elif nd.op == "sign":
                result_values[nd.name] = (result_values[nd.inputs[0]]
                                          >= nd.param("threshold")).astype(np.int64)
            elif nd.op == "int_mac":
                c = np.stack([st.counters[i] - counts_at_start[i] for i in nd.inputs], axis=-1)
                result_values[nd.name] = int_mac(nd.param("wq"), int_mac_operands(c, "counts", length))
            elif nd.op == "fsm":
                result_values[f"{nd.name}.state"] = st.fsm[nd.name].copy()
        return SimResult(result_values,
                         {s: np.concatenate(v, axis=1) for s, v in out_streams.items()}, st)

    # ------------------------------------------------------------------ internals
    def _initial_state(self, b: int) -> SimState:
        st = SimState()
        for name, spec in self.netlist.allocator.sources.items():
            if spec.kind == "lfsr":
                st.sources[name] = spec.seed
            elif spec.kind == "ideal":
                st.sources[name] = np.random.Generator(np.random.PCG64(spec.seed))
            else:
                st.sources[name] = 0
        for nd in self.netlist.nodes.values():
            if nd.op == "fsm":
                st.fsm[nd.name] = np.full(b, nd.param("reset"), dtype=np.int64)
            elif nd.op in ("counter", "updown"):
                st.counters[nd.name] = np.full(b, nd.param("reset", 0), dtype=np.int64)
        return st

    def _continue(self, state: SimState, b: int) -> SimState:
        fresh = self._initial_state(b)
        for key in ("sources", "fsm", "counters"):
            have, want = getattr(state, key), getattr(fresh, key)
            if set(have) != set(want):
                raise SCValueError("state", f"does not belong to this netlist ({key} differ)")
            for name, v in have.items():
                if isinstance(v, np.ndarray) and v.shape != (b,):
                    raise SCValueError("state", f"{name!r} has batch {v.shape}, run has {b}")
        # generators are copied so that the same state can be continued more than once
        sources = {k: copy.deepcopy(v) if isinstance(v, np.random.Generator) else v
                   for k, v in state.sources.items()}
        return SimState(state.cycle, sources,
                        {k: v.copy() for k, v in state.fsm.items()},
                        {k: v.copy() for k, v in state.counters.items()})

    @staticmethod
    def _source_chunk(spec: SourceSpec, st: SimState, lc: int, seq_kernel) -> np.ndarray | None:
        """Full-width values of a source for the next ``lc`` cycles (advances its register)."""
        if spec.kind == "lfsr":
            rows = leap_matrix(spec.width, spec.steps_per_cycle)
            tables = byte_tables(rows)
            states = seq_kernel(tables, np.uint64(st.sources[spec.name]), lc + 1)
            st.sources[spec.name] = int(states[-1])
            return states[:-1]
        if spec.kind == "ideal":
            return st.sources[spec.name].integers(0, 1 << spec.width, size=lc, dtype=np.uint64)
        return None                                   # sobol: depends on the consumer's bits

    @staticmethod
    def _bits_of(spec: SourceSpec, full: np.ndarray | None, bits: int, cycle: int,
                 lc: int) -> np.ndarray:
        if spec.kind == "sobol":
            return vdc_sequence(bits, spec.seed, lc, start=cycle)
        return full & np.uint64((1 << bits) - 1)

    def _steps(self, ref: str, wires: dict[str, np.ndarray], b: int) -> np.ndarray:
        w = wires[ref]
        if self.netlist.nodes[ref].kind == BIT:
            return (2 * unpack_bits(w, b).astype(np.int32) - 1)
        return np.ascontiguousarray(w, dtype=np.int32)


__all__ = ["Netlist", "Node", "SimResult", "SimState", "Simulator", "Expectation", "expectation",
           "BIT", "INT", "WORD",
           "VALUE"]


# ---------------------------------------------------------------------------- expectation mode
@dataclass
class Expectation:
    """Exact long-run statistics of a netlist under the independence assumption.

    prob[bit node] = P(1) (B,); pmf[int node] = (pmf (B, K), min value); mean[word node] =
    expected final value after ``length`` cycles from the steady state (counters: L·p; up/down
    counters and signs are not modelled and are absent).
    """

    prob: dict[str, np.ndarray]
    pmf: dict[str, tuple[np.ndarray, int]]
    mean: dict[str, np.ndarray]


def expectation(netlist: Netlist, inputs: Mapping[str, Any] | None = None, length: int = 1024,
                *, batch: int | None = None) -> Expectation:
    """Propagate exact probabilities through a netlist ("expectation mode").

    SNG probabilities are the exact long-run P(R < X) of their source kind (LFSR over a full
    period); gates assume independent operands (what the netlist's source checks enforce unless
    ``shared_ok``); FSMs use their steady state (linear: closed form, integer-step: Markov chain).
    """
    from . import primitives as P  # noqa: PLC0415
    from .encoding import threshold_probability  # noqa: PLC0415

    values, b = Simulator(netlist)._check_inputs(inputs or {}, batch)
    check_int("length", length, 1)
    specs = netlist.allocator.sources
    prob: dict[str, np.ndarray] = {}
    pmf: dict[str, tuple[np.ndarray, int]] = {}
    mean: dict[str, np.ndarray] = {}
    for nd in netlist.nodes.values():
        op, ins = nd.op, nd.inputs
        if op == "sng":
            v = nd.param("const") if not ins else values[ins[0]]
            x = threshold(np.broadcast_to(v, (b,)), nd.param("bits"), nd.param("encoding"))
            spec = specs[nd.param("source")]
            prob[nd.name] = threshold_probability(x, nd.param("bits"), spec.kind, spec.width)
        elif op == "not":
            prob[nd.name] = P.p_not(prob[ins[0]])
        elif op in GATES2:
            f = {"and": P.p_and, "or": P.p_or, "xor": P.p_xor, "xnor": P.p_xnor}[op]
            prob[nd.name] = f(prob[ins[0]], prob[ins[1]])
        elif op == "mux":
            prob[nd.name] = P.p_mux(prob[ins[0]], prob[ins[1]], prob[ins[2]])
        elif op == "apc":
            k_pmf = P.apc_distribution(np.stack([prob[i] for i in ins], axis=-1))
            if nd.param("bipolar"):
                m = len(ins)
                full = np.zeros((b, 2 * m + 1))
                full[:, ::2] = k_pmf
                pmf[nd.name] = (full, -m)
            else:
                pmf[nd.name] = (k_pmf, 0)
        elif op == "add":
            acc, lo = pmf[ins[0]]
            for i in ins[1:]:
                q, qlo = pmf[i]
                acc = np.stack([np.convolve(acc[r], q[r]) for r in range(b)])
                lo += qlo
            pmf[nd.name] = (acc, lo)
        elif op == "fsm":
            n = nd.param("states")
            src = ins[0]
            if netlist.nodes[src].kind == BIT:
                pi = P.linear_fsm_steady_state(prob[src], n)
            else:
                q, lo = pmf[src]
                pi = np.stack([P.integer_fsm_steady_state(q[r], n, lo) for r in range(b)])
            if nd.param("wq") is None:
                w = P.stanh_weights(n)
            else:
                spec = specs[nd.param("source")]
                w = threshold_probability(np.asarray(nd.param("wq")), nd.param("weight_bits"),
                                          spec.kind, spec.width)
            prob[nd.name] = P.fsm_output_probability(pi, w)
        elif op == "counter":
            mean[nd.name] = length * prob[ins[0]]
    return Expectation(prob, pmf, mean)
