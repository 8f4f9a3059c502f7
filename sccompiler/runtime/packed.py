"""The packed runtime: the netlist's stream logic on bit-packed words, bit-exact with
:class:`~sccompiler.runtime.engine.Runtime` (the reference oracle; tests/runtime check every node).

Every batch element runs the same circuit from reset, so the random numbers of a layer
(:class:`~.randoms.LayerRandoms`) are drawn once per cycle for the whole batch, and nodes that do
not depend on the inputs (constant SNG banks and gates over them) are evaluated once (batch
axis of length 1, broadcast).  Per element:

* bit streams are cycle-packed words ``(B, *shape, W)`` (64 cycles per uint64): XNOR/MUX are
  word ops, up counters popcounts, SNG banks read a per-step table of the packed stream of every
  threshold (built once from the shared R_t, then one gather per element);
* integral streams stay lazy: a counter of an integral stream only needs its sum over the cycles,
  which for an XNOR+APC bank is ``sum_j w_rj (2 ones_j - L)`` (popcounts); only a WFSM input is
  evaluated per cycle, fused with the FSM (:func:`~.fsm_kernels.wfsm_bank`: XNOR-popcount over
  element-packed operands, APC sum and FSM update per cycle, nothing materialized);
* binary-domain nodes run the reference's code (:func:`~.engine.eval_value_op`).

Numba threads (``workers``) split the batch; the batch runs in chunks (``chunk`` sequences at a
time, all from reset) so that memory stays bounded; :func:`plan_memory` refuses inputs whose
chunk of one sequence would not fit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np

from ..errors import SCValueError, SimulationError
from ..ir.sc import SCNetlist, SCNode
from ..sim.encoding import threshold
from ..sim.rules import fsm_reset_state, stats_row
from .engine import VALUE_OPS, LayerFlow, LayerRun, align_banks, eval_value_op, sng_values
from .fsm_kernels import SPARSE_ONES, mask_words, rows_last32, wfsm_bank, wfsm_masks32, words32
from .packed_kernels import (
    add_bit_cycles,
    column_sums,
    constant_words,
    rows_last,
    sng_direct,
    sng_streams,
    stream_ones,
    to_element_packed,
    xnor_apc_cycles,
)
from .randoms import COMPARATOR_OPS, LayerRandoms
from .resources import plan_memory

_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
#: largest SNG table of one comparator (bytes, every threshold's stream); wider comparators
#: compare directly
SNG_TABLE_BYTES = 1 << 20
#: FSM lane-cycles (B x rows x L) of one WFSM bank below which it runs on one thread (a parallel
#: region on a busy machine waits a time slice for its slowest thread)
PARALLEL_WORK = 1 << 22


@dataclass(frozen=True)
class _XnorApc:
    """Static form of an xnor_apc bank: sign masks and weight columns over the operand words."""

    weights: np.ndarray      # (R, M) float64 (exact small integers)
    P: np.ndarray            # (Mw, R) uint64: operand j of word w has weight +1
    N: np.ndarray            # (Mw, R) uint64: ... weight -1
    wcol: np.ndarray         # (Mw * 64, R) int32: 2 w_rj
    bank: np.ndarray         # (R,) int64: the operand bank row r reads
    banks: int


def _xnor_apc_static(n: SCNode) -> _XnorApc:
    w = np.asarray(n.arrays["weights"])
    if not np.array_equal(w, np.rint(w)) or np.abs(w).max(initial=0) > 1:
        raise SimulationError(f"node {n.name!r}: the packed runtime needs XNOR weights in {{-1, 0, 1}}")
    w = w.astype(np.int64)
    R, M = w.shape
    Mw = -(-M // 64)
    P = np.zeros((Mw, R), dtype=np.uint64)
    N = np.zeros((Mw, R), dtype=np.uint64)
    for j in range(M):
        bit = np.uint64(1) << np.uint64(j % 64)
        P[j // 64, w[:, j] > 0] |= bit
        N[j // 64, w[:, j] < 0] |= bit
    wcol = np.zeros((Mw * 64, R), dtype=np.int32)
    wcol[:M] = 2 * w.T
    if "groups" in n.params:
        g = int(n.params["groups"])
        bank, banks = np.repeat(np.arange(g), R // g), g
    else:
        bank, banks = np.zeros(R, dtype=np.int64), 1
    return _XnorApc(w.astype(np.float64), P, N, wcol, bank.astype(np.int64), banks)


def comparator_numbers(randoms: LayerRandoms, L: int) -> dict[str, np.ndarray]:
    """{comparator node: (size, L) R_t} of the next L cycles (:meth:`LayerRandoms.numbers`, the one
    gather rule), its register stepping on one numba thread: a small parallel region costs a time
    slice on a busy machine."""
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return randoms.numbers(L)
    finally:
        numba.set_num_threads(threads)


def _counts(bits: np.ndarray) -> np.ndarray:
    """Ones of each cycle-packed stream (int64, last axis reduced)."""
    if bits.dtype == np.uint64 and bits.ndim >= 1:
        flat = np.ascontiguousarray(bits).reshape(-1, bits.shape[-1])
        out = np.empty(flat.shape[0], dtype=np.int64)
        stream_ones(flat, out)
        return out.reshape(bits.shape[:-1])
    if hasattr(np, "bitwise_count"):                                  # numpy >= 2
        return np.bitwise_count(bits).sum(axis=-1, dtype=np.int64)
    b = np.ascontiguousarray(bits).astype("<u8", copy=False)
    return np.unpackbits(b.view(np.uint8), axis=-1).sum(axis=-1, dtype=np.int64)


class _Terms:
    """The per-cycle input of a WFSM as the fused kernel takes it: XNOR-popcount operands,
    dense per-cycle terms and a per-row base."""

    def __init__(self, B: int, L: int, R: int, static: dict | None = None) -> None:
        self.B, self.L, self.R = B, L, R
        self.static = {} if static is None else static      # weight words per set of XNOR banks
        self.pops: list[tuple] = []
        self.dense: np.ndarray | None = None
        self.bits: list[np.ndarray] = []
        self.base = np.zeros((1, R), dtype=np.int64)

    def add_dense(self, d: np.ndarray) -> None:
        self.dense = d if self.dense is None else self.dense + d

    def add_bits(self, b: np.ndarray, fuse: bool = True) -> None:
        """Streams (B', K, R, W), each adding 2 bit - 1 per cycle: per-element ones into the
        fused kernel, shared ones (B' = 1, computed once) as a dense term."""
        if fuse and b.shape[0] == self.B and self.B > 1:
            self.bits.append(rows_last32(b))
            self.base = self.base - b.shape[1]
            return
        d = np.zeros((b.shape[0], self.L, self.R), dtype=np.int32)
        add_bit_cycles(rows_last(b), d)
        self.add_dense(d)

    def arrays(self):
        """The arguments of :func:`~.fsm_kernels.wfsm_bank` (operand words in 32-bit lanes, the
        XNOR banks whose operands are mostly dense first, their popcount corrections in the base)."""
        B, L, R = self.B, self.L, self.R
        base = np.broadcast_to(self.base, (B, R)).astype(np.int64)
        groups = []
        for jp, on, P, N, wcol in self.pops:
            jp32, on32 = jp.view(np.uint32), np.ascontiguousarray(on).view(np.uint32)
            if constant_operands(jp32, on32):
                base = base + constant_terms(jp32[:, 0], on32, wcol)
                continue
            groups.append((not _sparse(jp32, on32), jp32, on32, P, N, wcol))
        groups.sort(key=lambda g: not g[0])
        dense_g = [g for g in groups if g[0]]
        sparse_g = [g for g in groups if not g[0]]
        jd, od = _operand_words(dense_g, B, L)
        js, os_ = _operand_words(sparse_g, B, L)
        key = tuple((id(g[3]), g[0]) for g in groups)
        if key not in self.static:                        # the banks' weight words: once per run
            self.static[key] = _weight_words(groups, R)
        Z, Nm, wcol, npc = self.static[key]
        base = base - npc[:jd.shape[2]].sum(axis=0, dtype=np.int64)[None, :]
        dense = np.zeros((0, L, R), dtype=np.int32) if self.dense is None else \
            np.ascontiguousarray(self.dense, dtype=np.int32)
        bt = np.ascontiguousarray(np.concatenate(self.bits, axis=1)) if self.bits else \
            np.zeros((0, 0, 0, R), dtype=np.uint32)
        return (jd, od, js, os_, Z, Nm, wcol, npc, bt, np.ascontiguousarray(base, dtype=np.int32), dense)


def _weight_words(groups: list, R: int) -> tuple:
    """(Z, Nm, wcol, npc) of XNOR banks side by side in 32-bit words (:func:`~.fsm_kernels.
    wfsm_bank`'s arguments; one zero word appended to Z and Nm)."""
    if not groups:
        z = np.zeros((1, R), dtype=np.uint32)
        npc = np.zeros((0, R), dtype=np.int32)
        return z, z, np.zeros((0, R), dtype=np.int32), npc
    Nm = np.concatenate([words32(g[4]) for g in groups] + [np.zeros((1, R), dtype=np.uint32)], axis=0)
    Z = np.concatenate([words32(g[3]) for g in groups] + [np.zeros((1, R), dtype=np.uint32)], axis=0) | Nm
    wcol = np.ascontiguousarray(np.concatenate([g[5] for g in groups], axis=0))
    npc = np.ascontiguousarray(2 * _counts32(Nm[:-1]), dtype=np.int32)
    return np.ascontiguousarray(Z), np.ascontiguousarray(Nm), wcol, npc


def _operand_words(groups: list, B: int, L: int) -> tuple[np.ndarray, np.ndarray]:
    """The operand words of XNOR banks side by side ((B or 1, L, M), (B or 1, M) uint32): one bank's
    as they are (no copy), several concatenated."""
    if not groups:
        return np.zeros((1, L, 0), dtype=np.uint32), np.zeros((1, 0), dtype=np.uint32)
    if len(groups) == 1:
        return np.ascontiguousarray(groups[0][1]), np.ascontiguousarray(groups[0][2])
    bj = max(g[1].shape[0] for g in groups)
    bo = max(g[2].shape[0] for g in groups)
    jp = np.concatenate([np.broadcast_to(g[1], (bj, L, g[1].shape[2])) for g in groups], axis=2)
    on = np.concatenate([np.broadcast_to(g[2], (bo, g[2].shape[1])) for g in groups], axis=1)
    return np.ascontiguousarray(jp), np.ascontiguousarray(on)


def constant_operands(jp: np.ndarray, on: np.ndarray) -> bool:
    """Whether every operand word of an XNOR bank (``jp & on``: (B', L, Mw) / (B' or 1, Mw)
    uint32) is the same in all cycles of the step (exact gated inputs: a one-hot character's
    stream is all ones where it is on)."""
    if jp.shape[1] <= 1 or jp.shape[0] < on.shape[0]:
        return False
    return bool(constant_words(np.ascontiguousarray(jp), np.ascontiguousarray(on)))


def constant_terms(x: np.ndarray, on: np.ndarray, wcol: np.ndarray) -> np.ndarray:
    """(B', R) int64: the per-cycle XNOR-popcount term of constant operand words ``x & on``
    ((B', Mw) / (B' or 1, Mw) uint32): ``2 sum_j w_rj`` over the operands that are one (the same
    integer as the kernel's popcounts, which every cycle would add again)."""
    w = np.ascontiguousarray(x & on, dtype=np.uint32)
    out = np.empty((w.shape[0], wcol.shape[1]), dtype=np.int64)
    column_sums(w, np.ascontiguousarray(wcol, dtype=np.int32), out)       # integers, no BLAS
    return out


def _counts32(words: np.ndarray) -> np.ndarray:
    """Ones of each uint32 word (int32)."""
    if hasattr(np, "bitwise_count"):                                  # numpy >= 2
        return np.bitwise_count(words).astype(np.int32)
    b = np.unpackbits(np.ascontiguousarray(words).astype("<u4").view(np.uint8).reshape(words.shape + (4,)), axis=-1)
    return b.sum(axis=(-1, -2), dtype=np.int32)


#: cycles of an XNOR bank's operand words sampled to decide whether they are mostly sparse
SPARSITY_SAMPLE = 16


def _sparse(jp: np.ndarray, on: np.ndarray) -> bool:
    """Whether most operand words (``jp & on``, (B, L, Mw) / (B, Mw) uint32) have at most
    :data:`~.fsm_kernels.SPARSE_ONES` ones (one-hot or gated inputs: the kernel then adds weight
    columns per one instead of a popcount per word and row; the results are the same)."""
    if jp.shape[2] == 0:
        return True
    x = jp[:, :SPARSITY_SAMPLE] & on[:, None, :]
    return bool(np.mean(_counts32(x) <= SPARSE_ONES) > 0.5)


class _Step:
    """One time step of one layer on one chunk of the batch: node values, lazily evaluated
    integral streams."""

    def __init__(self, rt: "PackedRuntime", B: int, L: int, t: int, rand: dict) -> None:
        self.rt, self.B, self.L, self.t, self.rand = rt, B, L, t, rand
        self.W = -(-L // 64)
        self.vals: dict[str, object] = {}
        self.sums: dict[str, np.ndarray] = {}       # int node -> (B', R) int64 sum over the cycles
        self.cycles: dict[str, np.ndarray] = {}     # int node -> (B', L, R) int32
        self.jp: dict[str, np.ndarray] = {}         # bits node -> element-packed (B', Q, L, Mw)
        self.mask = np.full(self.W, _ALL, dtype=np.uint64)
        if L % 64:
            self.mask[-1] = (np.uint64(1) << np.uint64(L % 64)) - np.uint64(1)

    # ------------------------------------------------------------------ bits
    def sng(self, n: SCNode) -> np.ndarray:
        p = n.params
        const = "const" in n.arrays
        B = 1 if const else self.B
        v = sng_values(n, None if const else self.vals[n.inputs[0]], self.t, B)
        try:
            x = threshold(v, p["bits"], n.encoding, n.name)
        except SCValueError as exc:
            raise SCValueError(n.name, f"value outside the {n.encoding} range of its SNGs ({exc}); "
                                       "the compiled input range is too small for these inputs") from None
        x = np.ascontiguousarray(x.reshape(B, n.size))
        r = np.ascontiguousarray(self.rand[n.name])                 # (S, L)
        levels = (1 << int(p["bits"])) + 1
        S, W, L = n.size, self.W, self.L
        if B * L > 2 * levels * W and levels * W * 8 <= SNG_TABLE_BYTES:
            bits = np.empty((B, S, W), dtype=np.uint64)
            sng_streams(r, levels, np.ascontiguousarray(x, dtype=np.int64), bits)
        else:
            bits = np.empty((B, S, W), dtype=np.uint64)
            sng_direct(r, x.astype(np.uint64), bits)
        live = self.rt.live.get(n.name)
        if live is not None:
            bits[:, ~live] = 0
        return bits.reshape((B,) + n.shape + (W,))

    def element_packed(self, name: str) -> np.ndarray:
        """The operand bits of node ``name`` element-packed: (B', Q, L, Mw)."""
        jp = self.jp.get(name)
        if jp is None:
            bits = self.vals[name]
            b = bits if bits.ndim == 4 else bits[:, None]
            jp = np.empty(b.shape[:2] + (self.L, -(-b.shape[2] // 64)), dtype=np.uint64)
            to_element_packed(np.ascontiguousarray(b), jp)
            self.jp[name] = jp
        return jp

    def wfsm(self, n: SCNode, state: np.ndarray) -> np.ndarray:
        p = n.params
        R, B, L = n.size, self.B, self.L
        src = n.inputs[0]
        terms = _Terms(B, L, R, self.rt.static.setdefault(n.name, {}))
        if self.rt.nodes[src].kind == "int":
            self.int_terms(src, terms)
        else:                                                        # binary input: d = 2 bit - 1
            bits = self.vals[src]
            terms.add_bits(bits.reshape(bits.shape[0], 1, R, self.W))
        N = int(p["states"])
        if p.get("state_policy") == "reset":
            state[:] = fsm_reset_state(N)
        wq, group = self.rt.wfsm_tables(n)
        if wq.ndim == 3:          # per-step table bank (ROM): step t reads table min(t, T-1)
            wq = np.ascontiguousarray(wq[stats_row(self.t, wq.shape[0])])
        masks = self.rt.buffer(n.name + "/masks", (L, mask_words(N), R), np.uint32)
        wfsm_masks32(np.ascontiguousarray(self.rand[n.name]), wq, group, masks)
        if n.name in self.rt.step_local and -(-L // 32) == 2 * self.W:
            y = self.rt.buffer(n.name + "/y", (B, R, self.W), np.uint64)    # every word written
        else:
            y = np.zeros((B, R, self.W), dtype=np.uint64)
        want = self.rt.nodes[src].kind == "int" and src not in self.sums and len(self.rt.consumers[src]) > 1
        dsum = np.empty((B if want else 0, R), dtype=np.int64)
        jd, od, js, os_, Z, Nm, wcol, npc, bt, base, dense = terms.arrays()
        threads = numba.get_num_threads()
        if B * R * L < PARALLEL_WORK:                                # small bank: one thread
            numba.set_num_threads(1)
        try:
            with numba.parallel_chunksize(1):                        # blocks go to whichever thread is free
                wfsm_bank(jd, od, js, os_, Z, Nm, wcol, npc, bt, base, dense, masks, N, state,
                          y.view(np.uint32), dsum)
        finally:
            numba.set_num_threads(threads)
        if want:
            self.sums[src] = dsum
        return y.reshape((B,) + n.shape + (self.W,))

    # ------------------------------------------------------------------ integral streams
    def _bits_rows(self, n: SCNode, v: np.ndarray) -> np.ndarray:
        """A bit input of apc ``n`` as (B', K, R, W) streams (K per row)."""
        if v.ndim - 2 > len(n.shape):
            return v.reshape(v.shape[0], v.shape[1], -1, self.W)
        return v.reshape(v.shape[0], 1, -1, self.W)

    def int_sum(self, name: str) -> np.ndarray:
        """(B', R) int64: the sum over the cycles of integral node ``name``."""
        if name in self.sums:
            return self.sums[name]
        if name in self.cycles:
            s = self.cycles[name].sum(axis=1, dtype=np.int64)
            self.sums[name] = s
            return s
        n = self.rt.nodes[name]
        L = self.L
        if n.op == "xnor_apc":
            st = self.rt.xnor[name]
            bits = self.vals[n.inputs[0]]
            c = _counts(bits).astype(np.float64)                     # (B', M) or (B', Q, M)
            steps = 2.0 * c - L
            if n.params.get("gated"):
                on = (np.asarray(self.vals[n.inputs[1]]) != 0).astype(np.float64)
                steps = steps * (on if steps.ndim == 2 else on[:, None, :])
            if steps.ndim == 2:
                s = steps @ st.weights.T
            elif st.banks > 1:
                s = np.einsum("brm,rm->br", steps[:, st.bank, :], st.weights)
            else:                                                     # per row: (B', R, M)
                s = np.einsum("brm,rm->br", steps, st.weights)
            s = np.rint(s).astype(np.int64)
        elif n.op == "apc":
            s = None
            for i in n.inputs:
                src = self.rt.nodes[i]
                if src.kind == "int":
                    part = self.int_sum(i)
                else:
                    b = self._bits_rows(n, self.vals[i])
                    part = (2 * _counts(b) - L).sum(axis=1)
                s = part if s is None else s + part
            if "offset" in n.arrays:
                s = s + L * n.arrays["offset"].reshape(1, -1).astype(np.int64)
        elif n.op == "islice":
            a, b = n.params["rows"]
            inner = n.size // max(1, n.shape[0]) if n.shape else 1
            s = self.int_sum(n.inputs[0])[:, a * inner:b * inner]
        else:
            s = self.int_cycles(name).sum(axis=1, dtype=np.int64)
        self.sums[name] = s
        return s

    def int_cycles(self, name: str) -> np.ndarray:
        """(B', L, R) int32: integral node ``name`` cycle by cycle."""
        if name in self.cycles:
            return self.cycles[name]
        n = self.rt.nodes[name]
        L = self.L
        if n.op == "xnor_apc":
            terms = _Terms(self.B, L, n.size)
            self._xnor_terms(n, terms, per_cycle=True)
            c = terms.dense
        elif n.op == "apc":
            terms = _Terms(self.B, L, n.size)
            self.int_terms(name, terms, fuse=False)
            if terms.bits:
                raise SimulationError(f"node {n.name!r}: unfused bit terms")  # add_bits(fuse=False) only
            c = np.broadcast_to(terms.base[:, None, :], (terms.base.shape[0], L, n.size)).astype(np.int32)
            if terms.dense is not None:
                c = c + terms.dense
        elif n.op == "islice":
            a, b = n.params["rows"]
            inner = n.size // max(1, n.shape[0]) if n.shape else 1
            c = self.int_cycles(n.inputs[0])[:, :, a * inner:b * inner]
        elif n.op == "xnor_int":
            r = self.vals[n.inputs[0]]
            sign = np.zeros((r.shape[0], L, n.size), dtype=np.int32)
            add_bit_cycles(rows_last(r.reshape(r.shape[0], 1, n.size, self.W)), sign)
            c = (self.int_cycles(n.inputs[1]) * sign).astype(np.int32)
        else:
            raise SimulationError(f"node {n.name!r}: no packed runtime for op {n.op!r}")
        c = np.ascontiguousarray(c, dtype=np.int32)
        self.cycles[name] = c
        return c

    def _xnor_terms(self, n: SCNode, terms: _Terms, per_cycle: bool) -> None:
        st = self.rt.xnor[n.name]
        jp = self.element_packed(n.inputs[0])
        Bj = jp.shape[0]
        Mw = jp.shape[3]
        M = st.weights.shape[1]
        if n.params.get("gated"):
            on_v = np.asarray(self.vals[n.inputs[1]]) != 0                        # (B, M)
            on = np.zeros((on_v.shape[0], Mw * 64), dtype=bool)
            on[:, :M] = on_v
            onw = np.packbits(on, axis=1, bitorder="little").view("<u8").astype(np.uint64)
            base = np.empty((onw.shape[0], n.size), dtype=np.int64)
            column_sums(onw.view(np.uint32), st.wcol, base)                  # 2 sum_j on_bj w_rj
            base //= -2
        else:
            onw = np.full((1, Mw), _ALL, dtype=np.uint64)
            base = -st.weights.sum(axis=1).astype(np.int64)[None, :]
        Q = jp.shape[1]
        if per_cycle or Q > 1:
            B = max(Bj, onw.shape[0])
            out = np.empty((B, self.L, n.size), dtype=np.int32)
            if Q == 1:
                bank = np.zeros(n.size, dtype=np.int64)
            elif st.banks > 1:
                bank = st.bank
            else:                                                     # per row: row r reads bank r
                bank = np.arange(n.size, dtype=np.int64)
            xnor_apc_cycles(np.ascontiguousarray(np.broadcast_to(jp, (B,) + jp.shape[1:])), bank,
                            np.ascontiguousarray(np.broadcast_to(onw, (B, Mw))), st.P, st.N, st.wcol,
                            np.ascontiguousarray(np.broadcast_to(base, (B, n.size)), dtype=np.int32), out)
            terms.add_dense(out)
            return
        terms.pops.append((jp[:, 0], onw, st.P, st.N, st.wcol))
        terms.base = terms.base + base

    def int_terms(self, name: str, terms: _Terms, fuse: bool = True) -> None:
        """Add integral node ``name``'s per-cycle value to ``terms`` (fused where possible)."""
        n = self.rt.nodes[name]
        if name in self.cycles:
            terms.add_dense(self.cycles[name])
        elif n.op == "xnor_apc":
            self._xnor_terms(n, terms, per_cycle=False)
        elif n.op == "apc":
            for i in n.inputs:
                if self.rt.nodes[i].kind == "int":
                    if fuse:
                        self.int_terms(i, terms)
                    else:
                        terms.add_dense(self.int_cycles(i))
                else:
                    terms.add_bits(self._bits_rows(n, self.vals[i]), fuse)
            if "offset" in n.arrays:
                terms.base = terms.base + n.arrays["offset"].reshape(1, -1).astype(np.int64)
        else:
            terms.add_dense(self.int_cycles(name))


class PackedRuntime:
    """Executes an :class:`SCNetlist` on packed words (see the module docstring); ``run`` has the
    reference :class:`~.engine.Runtime`'s interface and results, bit for bit."""

    def __init__(self, netlist: SCNetlist) -> None:
        self.netlist = netlist.check()
        if not netlist.sources.get("registers") and any(n.op in COMPARATOR_OPS for n in netlist):
            raise SimulationError("the netlist has no allocated sources (run the allocate_sources pass)")
        self.layers = list(netlist.layers)
        self.by_layer = {p.name: netlist.layer_nodes(p.name) for p in self.layers}
        self.nodes = {n.name: n for n in netlist}
        self.xnor = {n.name: _xnor_apc_static(n) for n in netlist if n.op == "xnor_apc"}
        self.consumers: dict[str, list[str]] = {n.name: [] for n in netlist}
        for n in netlist:
            for i in n.inputs:
                self.consumers[i].append(n.name)
        self._randoms: dict[tuple[str, int], LayerRandoms] = {}
        #: per WFSM node: the weight words of its XNOR banks (:class:`_Terms`), static per design
        self.static: dict[str, dict] = {}
        self._tables: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        #: bit-stream nodes whose values live only within their step (not a layer's output, not
        #: a register's next value): their arrays may be reused by the next step
        self.step_local = {n.name for n in netlist if n.kind == "bits"} - {
            ns[-1].name for ns in self.by_layer.values() if ns} - {
            str(n.params["next"]) for n in netlist if n.op == "register"}
        self._buffers: dict[tuple[str, int], np.ndarray] = {}
        self.live = {n.name: np.asarray(n.arrays["src"]).reshape(-1) >= 0 for n in netlist
                     if n.op == "sng" and "src" in n.arrays and (np.asarray(n.arrays["src"]) < 0).any()}

    def wfsm_tables(self, n: SCNode) -> tuple[np.ndarray, np.ndarray]:
        """A WFSM node's weight thresholds ((G, N) or (T, G, N) uint64) and row groups ((R,)
        int64), contiguous: static per design, converted once."""
        got = self._tables.get(n.name)
        if got is None:
            N = int(n.params["states"])
            wq = np.asarray(n.arrays["wq"]).astype(np.uint64)
            wq = wq.reshape((wq.shape[0], -1, N) if wq.ndim == 3 else (-1, N))
            got = (np.ascontiguousarray(wq), np.ascontiguousarray(np.asarray(n.arrays["group"]).reshape(-1),
                                                                  dtype=np.int64))
            self._tables[n.name] = got
        return got

    def buffer(self, key: str, shape: tuple, dtype) -> np.ndarray:
        """A scratch array reused across steps and runs (its contents are overwritten by each use;
        never a node's value): no fresh pages, no page faults, per step.  Per calling thread, so
        that runs from several Python threads do not share one."""
        key = (key, threading.get_ident())
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype=dtype)
            self._buffers[key] = buf
        return buf

    def run(self, x: np.ndarray, *, length: int | dict[str, int] | None = None, trace: bool = False,
            collect: Callable[[str, SCNode, np.ndarray, int], None] | None = None,
            progress: Callable[[float], None] | None = None, workers: int | None = 1,
            chunk: int | None = None, memory_limit: int | None = None) -> tuple[np.ndarray, dict[str, LayerRun]]:
        """Simulate inputs ``x`` (B, T, F) (or token ids (B, T)); return (output, per-layer runs) as
        :meth:`Runtime.run <sccompiler.runtime.engine.Runtime.run>` does.

        ``workers``: numba threads (None: numba's setting); ``chunk``: sequences simulated at once
        (None: as many as ``memory_limit`` bytes allow, see :func:`~.resources.plan_memory`);
        ``progress(fraction)`` is called after every time step of every layer and chunk (the
        fractions add up to one per layer); ``collect`` is called per chunk with that chunk's bits.
        """
        seq = np.asarray(x)
        lengths = self.lengths(length)
        plan = plan_memory(self.netlist, seq.shape, lengths, chunk=chunk, limit=memory_limit, trace=trace)
        before = numba.get_num_threads()
        if workers is not None:
            numba.set_num_threads(max(1, min(int(workers), numba.config.NUMBA_NUM_THREADS)))
        try:
            parts = []
            for start in range(0, seq.shape[0], plan.chunk):
                sub = seq[start:start + plan.chunk]
                part = self._run(sub, lengths, trace, collect, progress, sub.shape[0] / seq.shape[0])
                parts.append(part)
        finally:
            numba.set_num_threads(before)
        if len(parts) == 1:
            return parts[0]
        runs = {}
        for name in parts[0][1]:
            rs = [p[1][name] for p in parts]
            runs[name] = LayerRun(np.concatenate([r.out for r in rs]),
                                  {k: np.concatenate([r.trace[k] for r in rs]) for k in rs[0].trace},
                                  sum(r.saturations for r in rs))
        return np.concatenate([p[0] for p in parts]), runs

    def lengths(self, length: int | dict[str, int] | None) -> dict[str, int]:
        """Each layer's L under the reference's override rule."""
        out = {}
        for plan in self.layers:
            L = plan.length
            if isinstance(length, dict):
                L = length.get(plan.name, L)
            elif length is not None and plan.length:
                L = int(length)
            out[plan.name] = L
        return out

    def _run(self, seq, lengths, trace, collect, progress, share):
        flow = LayerFlow(self.netlist, seq)
        runs: dict[str, LayerRun] = {}
        for plan in self.layers:
            values, prev = flow.layer_input(plan)
            if plan.kind == "concat":
                run = flow.concat_run(plan, runs, trace)
                if progress is not None:
                    progress(share)                       # its layer's share, as a layer's T steps
            else:
                run = self._run_layer(plan.name, lengths[plan.name], values, prev, trace, collect, progress, share)
            runs[plan.name] = flow.hand_on(plan, run)
        return flow.values, runs

    def _run_layer(self, layer, L, seq, prev, trace, collect, progress, share) -> LayerRun:
        nodes = self.by_layer[layer]
        B, T = seq.shape[0], seq.shape[1]
        regs = {n.name: np.full((B,) + n.shape, float(n.params.get("reset", 0.0))) for n in nodes if n.op == "register"}
        key = (layer, L)
        if key not in self._randoms:                                  # static wiring: built once
            self._randoms[key] = LayerRandoms(self.netlist, layer, window=L)
        randoms = self._randoms[key].restarted()
        fsm_state = {n.name: np.full((B, n.size), fsm_reset_state(n.params["states"]), dtype=np.int64)
                     for n in nodes if n.op == "wfsm"}
        out_node = nodes[-1]
        rec: dict[str, list] = {n.name: [] for n in nodes} if trace else {}
        outs = []
        saturations = 0
        for t in range(T):
            step = _Step(self, B, L, t, comparator_numbers(randoms, L))
            vals = step.vals
            vals[prev] = seq[:, t]
            for n in nodes:
                kind = n.kind
                if kind == "int":
                    continue                                          # lazy (see _Step.int_sum)
                v = self._eval(n, step, regs, fsm_state)
                if n.op == "decode" and n.params.get("saturate") is not None:
                    v, sat = v
                    saturations += sat
                vals[n.name] = v
                if collect is not None and kind == "bits":
                    collect(layer, n, self.unpack(v, B, L), t)
            if trace:
                for n in nodes:
                    rec[n.name].append(self._decoded(n, step))
            for n in nodes:
                if n.op == "register":
                    regs[n.name] = vals[n.params["next"]]
            outs.append(vals[out_node.name])
            if progress is not None:
                progress(share / T)
        out = np.stack(outs, axis=1)
        tr = {k: np.stack(v, axis=1) for k, v in rec.items() if v and v[0] is not None}
        return LayerRun(out, tr, saturations)

    def _eval(self, n: SCNode, step: _Step, regs, fsm_state):
        op = n.op
        vals = step.vals
        if op in VALUE_OPS:
            return eval_value_op(n, vals, regs, step.L, step.t)
        if op == "counter":
            c = _counts(vals[n.inputs[0]])
            return np.broadcast_to(c, (step.B,) + c.shape[1:])
        if op == "updown_counter":
            s = step.int_sum(n.inputs[0])
            return np.broadcast_to(s, (step.B, s.shape[1])).reshape((step.B,) + n.shape)
        if op == "sng":
            return step.sng(n)
        if op == "slice":
            a, b = n.params["rows"]
            return vals[n.inputs[0]][:, a:b]
        if op == "xnor":
            a, b = align_banks(vals[n.inputs[0]], vals[n.inputs[1]])
            return ~(a ^ b) & step.mask
        if op == "mux":
            s_, a = align_banks(vals[n.inputs[0]], vals[n.inputs[1]])
            s_, b = align_banks(s_, vals[n.inputs[2]])
            return ((a ^ b) & s_) ^ b
        if op == "wfsm":
            return step.wfsm(n, fsm_state[n.name])
        raise SimulationError(f"node {n.name!r}: no packed runtime for op {op!r}")

    @staticmethod
    def unpack(bits: np.ndarray, B: int, L: int) -> np.ndarray:
        """Cycle-packed (B', ..., W) words -> (B, ..., L) bool (the reference's bit arrays)."""
        w = np.ascontiguousarray(bits).astype("<u8", copy=False)
        out = np.unpackbits(w.view(np.uint8), axis=-1, bitorder="little")[..., :L].astype(bool)
        return np.broadcast_to(out, (B,) + out.shape[1:])

    def _decoded(self, n: SCNode, step: _Step):
        """The reference's trace value of a node (bit streams: represented value; integral
        streams: mean per cycle; values as they are)."""
        B, L = step.B, step.L
        if n.kind == "bits":
            p = _counts(step.vals[n.name]) / L
            p = p if n.encoding == "unipolar" else 2.0 * p - 1.0
            return np.broadcast_to(p, (B,) + p.shape[1:]).copy()
        if n.kind == "int":
            s = step.int_sum(n.name)
            return np.broadcast_to(s / L, (B, s.shape[1])).reshape((B,) + n.shape).copy()
        return np.asarray(step.vals[n.name], dtype=np.float64)
