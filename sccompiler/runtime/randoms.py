"""The random numbers every comparator of one layer reads, cycle by cycle (docs/semantics.md §2.4).

A design's random sources are the source registers of ``netlist.sources["registers"]`` (one
leap-forward Galois LFSR each: layer, width, seed; it advances ``width`` steps per clock; or,
with ``kind: sobol``, one Sobol dimension ``dim`` of ``width`` bits, digital shift ``seed``,
restarting at every time step's window of the layer's L cycles: docs/semantics.md §2.5).  Every
comparator -- an SNG element or a WFSM row's weight comparator -- reads its b-bit random number
``R_t = sum_k bit(s_t, taps[k]) << k`` from one register ``src`` (node arrays ``src`` and
``taps``, written by the ``allocate_sources`` pass); ``src = -1`` marks a pruned comparator (its
stream meets only zero weights: it reads 0 and the hardware has no comparator).

This is the one implementation of that wiring for the runtimes; the emitter wires the same bits
(:mod:`sccompiler.backends.verilog.emitter`) and the cost model counts the same registers.
"""

from __future__ import annotations

import copy

import numpy as np

from ..errors import SimulationError
from ..ir.sc import SCNetlist, SCNode
from ..sim.kernels import gather_taps, lfsr_fill
from ..sim.rules import comparator_bits
from ..sim.sources import byte_tables, leap_matrix, sobol_sequence

#: ops whose elements are comparators reading a source register
COMPARATOR_OPS = ("sng", "wfsm")


def comparator_nodes(netlist: SCNetlist, layer: str | None = None) -> list[SCNode]:
    """The nodes with comparators (SNG banks, WFSMs), of one layer or of the whole netlist."""
    nodes = netlist.layer_nodes(layer) if layer is not None else list(netlist)
    return [n for n in nodes if n.op in COMPARATOR_OPS]


def comparator_wiring(n: SCNode) -> tuple[np.ndarray, np.ndarray]:
    """(src (size,) int64, taps (size, b) int64) of a comparator node, validated."""
    if "src" not in n.arrays or "taps" not in n.arrays:
        raise SimulationError(f"node {n.name!r} has no source wiring (run the allocate_sources pass)")
    src = np.asarray(n.arrays["src"]).reshape(-1).astype(np.int64)
    taps = np.asarray(n.arrays["taps"]).astype(np.int64)
    b = comparator_bits(n)
    if taps.shape != tuple(n.shape) + (b,):
        raise SimulationError(f"node {n.name!r}: taps of shape {taps.shape}, expected {tuple(n.shape) + (b,)}")
    return src, taps.reshape(-1, b)


def contiguous_offsets(taps: np.ndarray) -> np.ndarray:
    """Per comparator: the first tap if its taps are the contiguous bits off, off+1, .. (the
    kernel then shifts and masks), else -1."""
    if taps.shape[1] == 0:
        return np.zeros(taps.shape[0], dtype=np.int64)
    ramp = taps[:, :1] + np.arange(taps.shape[1])[None, :]
    return np.where(np.all(taps == ramp, axis=1), taps[:, 0], -1).astype(np.int64)


class LayerRandoms:
    """The source registers of one layer and the comparators that read them.

    ``window``: the cycles of one time step (the run's L; default the layer's compiled L), where
    the Sobol registers restart.  ``numbers(L)`` returns {node name: (node.size, L) uint64 random
    numbers} for the next L cycles (``step(L)``: the same as (L, node.size) views) and advances
    the registers by L (LFSRs run on continuously across time steps; Sobol registers restart
    every window)."""

    def __init__(self, netlist: SCNetlist, layer: str, window: int | None = None) -> None:
        registers = list(netlist.sources.get("registers") or [])
        own = [k for k, r in enumerate(registers) if r["layer"] == layer]
        local = {k: i for i, k in enumerate(own)}
        self.widths = np.array([int(registers[k]["width"]) for k in own], dtype=np.int64)
        seeds = np.array([int(registers[k]["seed"]) for k in own], dtype=np.uint64)
        sobol = np.array([registers[k].get("kind", "lfsr") == "sobol" for k in own], dtype=bool)
        # Sobol registers (§2.5): restart every `window` cycles (the run's L, default the layer's),
        # so their numbers are one (registers, window) block read cyclically; `cycle` counts cycles
        plan = next((p for p in netlist.layers if p.name == layer), None)
        self.window = max(1, int(window) if window is not None else int(plan.length or 1) if plan is not None else 1)
        self.cycle = 0
        self.sobol_cols = np.flatnonzero(sobol)
        self.sobol_block = np.zeros((self.sobol_cols.size, self.window), dtype=np.uint64)
        for i, c in enumerate(self.sobol_cols):
            r = registers[own[c]]
            self.sobol_block[i] = sobol_sequence(int(r["dim"]), int(r["width"]), self.window, int(r["seed"]),
                                                 window=self.window)
        # one state vector and leap table per LFSR register width
        self.groups = []
        for w in sorted(set(self.widths[~sobol].tolist())):
            cols = np.flatnonzero((self.widths == w) & ~sobol)
            tables = byte_tables(leap_matrix(int(w), int(w)))
            self.groups.append((cols, tables, seeds[cols].copy(), np.uint64((1 << int(w)) - 1)))
        self.seeds = [g[2].copy() for g in self.groups]
        self.nodes = comparator_nodes(netlist, layer)
        srcs, taps, self.columns = [], [], {}
        start = 0
        for n in self.nodes:
            s, t = comparator_wiring(n)
            bad = [int(g) for g in s if g >= 0 and int(g) not in local]
            if bad:
                raise SimulationError(f"node {n.name!r} reads source register {bad[0]}, which is not one of "
                                      f"layer {layer!r}'s")
            srcs.append(np.array([local[int(g)] if g >= 0 else -1 for g in s], dtype=np.int64))
            taps.append(t)
            self.columns[n.name] = (start, start + n.size)
            start += n.size
        width = max([t.shape[1] for t in taps] + [1])
        self.src = np.concatenate(srcs) if srcs else np.zeros(0, dtype=np.int64)
        self.taps = np.zeros((self.src.size, width), dtype=np.int64)
        self.nbits = np.zeros(self.src.size, dtype=np.int64)
        self.offsets = np.full(self.src.size, -1, dtype=np.int64)
        for n, t in zip(self.nodes, taps):
            a, b = self.columns[n.name]
            self.taps[a:b, :t.shape[1]] = t
            self.nbits[a:b] = t.shape[1]
            self.offsets[a:b] = contiguous_offsets(t)
        used = self.src >= 0
        read = np.where(np.arange(width)[None, :] < self.nbits[:, None], self.taps, 0).max(axis=1, initial=0)
        beyond = np.flatnonzero(used & (read >= self.widths[np.where(used, self.src, 0)] if self.widths.size
                                        else np.zeros_like(used)))
        if beyond.size:
            w = int(self.widths[self.src[beyond[0]]])
            raise SimulationError(f"a comparator of layer {layer!r} reads a bit beyond its {w}-bit register")

    def restarted(self) -> "LayerRandoms":
        """A copy of these registers back at their seeds (cycle 0), sharing the static tables
        (wiring, leap tables, Sobol block): what a new run starts from, without rebuilding them."""
        out = copy.copy(self)
        out.cycle = 0
        out.groups = [(cols, tables, s0.copy(), mask) for (cols, tables, _, mask), s0 in zip(self.groups, self.seeds)]
        return out

    def states(self, L: int) -> np.ndarray:
        """(L, S) register states s_t of the next L cycles (advances the registers by L)."""
        out = np.empty((self.widths.size, L), dtype=np.uint64)
        for cols, tables, state, mask in self.groups:
            part = np.empty((cols.size, L), dtype=np.uint64)
            lfsr_fill(tables, state, part.T, mask)
            out[cols] = part
        if self.sobol_cols.size:
            u = (self.cycle + np.arange(L)) % self.window
            out[self.sobol_cols] = self.sobol_block[:, u]
        self.cycle = (self.cycle + L) % self.window
        return out.T

    def numbers(self, L: int) -> dict[str, np.ndarray]:
        """{comparator node: (size, L) random numbers R_t} of the next L cycles (comparator-major;
        advances the registers by L)."""
        if self.src.size == 0:
            return {}
        states = np.ascontiguousarray(self.states(L).T)                 # (registers, L), no copy
        rand = np.empty((self.src.size, L), dtype=np.uint64)
        gather_taps(states, self.src, self.taps, self.nbits, self.offsets, rand)
        return {name: rand[a:b] for name, (a, b) in self.columns.items()}

    def step(self, L: int) -> dict[str, np.ndarray]:
        """{comparator node: (L, size) random numbers R_t} of the next L cycles (views of
        :meth:`numbers`)."""
        return {name: r.T for name, r in self.numbers(L).items()}

    def live(self, name: str) -> np.ndarray:
        """(size,) bool: which comparators of node ``name`` exist (not pruned)."""
        a, b = self.columns[name]
        return self.src[a:b] >= 0
