"""Numba kernels of the packed runtime (:mod:`.packed`).

Layouts (``W = ceil(L / 64)`` words per stream, ``Mw = ceil(M / 64)``):

* bit streams, **cycle-packed**: ``(B, *shape, W)`` uint64, cycle ``t`` of a stream is bit
  ``t % 64`` of word ``t // 64``; bits past ``L`` are 0 (every kernel and gate keeps them 0);
* operand vectors, **element-packed** (the transpose, for XNOR + popcount): ``(B, Q, L, Mw)``,
  bit ``j % 64`` of word ``j // 64`` is operand ``j`` of bank ``q`` in cycle ``t``;
* integral streams, per cycle: ``(B, L, R)`` int32 (rows contiguous, so that row loops vectorize).

All kernels run over the batch with ``prange`` (numba threads) and release the GIL.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

_ONE = np.uint64(1)
_ZERO = np.uint64(0)


@intrinsic
def popcount(typingctx, x):
    """llvm.ctpop on a uint64 (VPOPCNTQ / POPCNT)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@intrinsic
def trailing_zeros(typingctx, x):
    """llvm.cttz on a uint64 (TZCNT); undefined for 0 (callers test first)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], context.get_constant(types.boolean, False))

    return sig, codegen


# ----------------------------------------------------------------------------- SNGs
@njit(parallel=True, nogil=True, cache=True)
def sng_tables(rand, levels, words, out):
    """``out[e, X]`` = the cycle-packed stream ``R_t < X`` of comparator ``e`` for every threshold
    ``X`` in ``0 .. levels - 1`` (``rand`` (L, S): R_t of each comparator, all ``< levels - 1``)."""
    L, S = rand.shape
    for e in prange(S):
        for x in range(levels):
            for w in range(words):
                out[e, x, w] = _ZERO
        for t in range(L):
            v = rand[t, e]
            out[e, v + 1, t >> 6] |= _ONE << np.uint64(t & 63)
        for x in range(1, levels):
            for w in range(words):
                out[e, x, w] |= out[e, x - 1, w]


@njit(parallel=True, nogil=True, cache=True)
def sng_direct(rand, thr, out):
    """``out[b, e]`` = cycle-packed ``rand[t, e] < thr[b, e]`` (B, S, W)."""
    L, S = rand.shape
    B = thr.shape[0]
    W = out.shape[2]
    for b in prange(B):
        for e in range(S):
            x = thr[b, e]
            for w in range(W):
                acc = _ZERO
                t0 = w * 64
                for tt in range(min(64, L - t0)):
                    if rand[t0 + tt, e] < x:
                        acc |= _ONE << np.uint64(tt)
                out[b, e, w] = acc


# ----------------------------------------------------------------------------- layouts
@njit(parallel=True, nogil=True, cache=True)
def to_element_packed(bits, out):
    """(B, Q, M, W) cycle-packed -> (B, Q, L, Mw) element-packed (``out`` zeroed here)."""
    B, Q, M, W = bits.shape
    L = out.shape[2]
    Mw = out.shape[3]
    for b in prange(B):
        for q in range(Q):
            for t in range(L):
                for w in range(Mw):
                    out[b, q, t, w] = _ZERO
            for j in range(M):
                jw = j >> 6
                jb = _ONE << np.uint64(j & 63)
                for w in range(W):
                    x = bits[b, q, j, w]
                    while x != _ZERO:
                        t = w * 64 + np.int64(trailing_zeros(x))
                        out[b, q, t, jw] |= jb
                        x &= x - _ONE


@njit(parallel=True, nogil=True, cache=True)
def add_bit_cycles(bits, out):
    """``out[b, t, r] += sum_k (2 bit[b, k, r, t] - 1)`` for (B, K, R, W) streams; ``out`` is
    (B, L, R) int32."""
    B, K, R, W = bits.shape
    L = out.shape[1]
    for b in prange(B):
        for k in range(K):
            for r in range(R):
                for w in range(W):
                    x = bits[b, k, r, w]
                    t0 = w * 64
                    for tt in range(min(64, L - t0)):
                        out[b, t0 + tt, r] += np.int32(2 * ((x >> np.uint64(tt)) & _ONE)) - 1


@njit(parallel=True, nogil=True, cache=True)
def cycles_to_bits(vals, out):
    """(B, L, R) 0/1 integers -> (B, R, W) cycle-packed bits."""
    B, L, R = vals.shape
    for b in prange(B):
        for r in range(R):
            for w in range(out.shape[2]):
                out[b, r, w] = _ZERO
        for t in range(L):
            sh = np.uint64(t & 63)
            w = t >> 6
            for r in range(R):
                if vals[b, t, r] != 0:
                    out[b, r, w] |= _ONE << sh


# ----------------------------------------------------------------------------- XNOR + APC
@njit(inline="always")
def _accumulate(acc, jp_row, on_row, P, N, wcol):
    """acc[r] += 2 (popcount(x & P[w, r]) - popcount(x & N[w, r])) over the operand words
    x = jp_row[w] & on_row[w]; sparse words (<= 4 ones) add weight columns instead."""
    R = acc.shape[0]
    for w in range(jp_row.shape[0]):
        x = jp_row[w] & on_row[w]
        if x == _ZERO:
            continue
        if popcount(x) <= 4:
            while x != _ZERO:
                col = wcol[w * 64 + np.int64(trailing_zeros(x))]
                for r in range(R):
                    acc[r] += col[r]
                x &= x - _ONE
        else:
            Pw = P[w]
            Nw = N[w]
            for r in range(R):
                acc[r] += 2 * (np.int32(popcount(x & Pw[r])) - np.int32(popcount(x & Nw[r])))


@njit(parallel=True, nogil=True, cache=True)
def xnor_apc_cycles(jp, bank, on, P, N, wcol, base, out):
    """Per-cycle XNOR + APC ``out[b, t, r] = base[b, r] + 2 sum_j w_rj on_bj b_bj,t`` (B, L, R)
    with row r reading operand bank ``bank[r]`` of ``jp`` (B, Q, L, Mw)."""
    B, Q, L, Mw = jp.shape
    for b in prange(B):
        for q in range(Q):
            rows = np.flatnonzero(bank == q)
            if rows.size == 0:
                continue
            Pq = np.empty((Mw, rows.size), dtype=np.uint64)
            Nq = np.empty((Mw, rows.size), dtype=np.uint64)
            wq = np.empty((Mw * 64, rows.size), dtype=np.int32)
            for i in range(rows.size):
                for w in range(Mw):
                    Pq[w, i] = P[w, rows[i]]
                    Nq[w, i] = N[w, rows[i]]
                for j in range(Mw * 64):
                    wq[j, i] = wcol[j, rows[i]]
            acc = np.empty(rows.size, dtype=np.int32)
            for t in range(L):
                for i in range(rows.size):
                    acc[i] = base[b, rows[i]]
                _accumulate(acc, jp[b, q, t], on[b], Pq, Nq, wq)
                for i in range(rows.size):
                    out[b, t, rows[i]] = acc[i]


# ----------------------------------------------------------------------------- fused WFSM
@njit(parallel=True, nogil=True, cache=True)
def apc_wfsm(jp, on, P, N, wcol, base, dense, rw, wq, goff, nstates, state, y, dsum):
    """A bank of R weighted FSMs whose integer input is an APC sum, fused cycle by cycle.

    Input d[b, t, r] = base[b, r] + dense[b or 0, t, r] (per-cycle terms, (0, L, R) for none)
    + the XNOR-popcount terms of the element-packed operands ``jp`` (B, L, Mw) (see
    :func:`_accumulate`).  Output ``y_t = rw[t, r] < wq[goff[r] + s_t]`` (cycle-packed into
    ``y`` (B, R, W)), then ``s <- clamp(s + d, 0, N - 1)``; ``state`` (B, R) in/out; ``dsum``
    (B, R) = sum over the cycles of d (the APC's counted value)."""
    B, R = state.shape
    L = rw.shape[0]
    Bd = dense.shape[0]
    top = nstates - 1
    for b in prange(B):
        st = np.empty(R, dtype=np.int64)
        for r in range(R):
            st[r] = state[b, r]
        acc = np.empty(R, dtype=np.int32)
        total = np.zeros(R, dtype=np.int64)
        word = np.zeros(R, dtype=np.uint64)
        db = np.int64(0)
        if Bd > 1:
            db = np.int64(b)
        for t in range(L):
            if Bd > 0:
                drow = dense[db, t]
                for r in range(R):
                    acc[r] = base[b, r] + drow[r]
            else:
                for r in range(R):
                    acc[r] = base[b, r]
            if jp.shape[2] > 0:
                _accumulate(acc, jp[b, t], on[b], P, N, wcol)
            sh = np.uint64(t & 63)
            rt = rw[t]
            for r in range(R):
                s = st[r]
                word[r] |= np.uint64(rt[r] < wq[goff[r] + s]) << sh
                s += acc[r]
                if s < 0:
                    s = 0
                elif s > top:
                    s = top
                st[r] = s
                total[r] += acc[r]
            if (t & 63) == 63 or t == L - 1:
                w = t >> 6
                for r in range(R):
                    y[b, r, w] = word[r]
                    word[r] = _ZERO
        for r in range(R):
            state[b, r] = st[r]
            dsum[b, r] = total[r]


__all__ = ["add_bit_cycles", "apc_wfsm", "cycles_to_bits", "popcount", "sng_direct", "sng_tables",
           "to_element_packed", "trailing_zeros", "xnor_apc_cycles"]
