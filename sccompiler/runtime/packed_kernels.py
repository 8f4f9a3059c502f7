"""Numba kernels of the packed runtime (:mod:`.packed`).

Layouts (``W = ceil(L / 64)`` words per stream, ``Mw = ceil(M / 64)``):

* bit streams, **cycle-packed**: ``(B, *shape, W)`` uint64, cycle ``t`` of a stream is bit
  ``t % 64`` of word ``t // 64``; bits past ``L`` are 0 (every kernel and gate keeps them 0);
* operand vectors, **element-packed** (the transpose, for XNOR + popcount): ``(B, Q, L, Mw)``,
  bit ``j % 64`` of word ``j // 64`` is operand ``j`` of bank ``q`` in cycle ``t``;
* integral streams, per cycle: ``(B, L, R)`` int32 (rows contiguous, so that row loops vectorize).

All kernels release the GIL.  Only the per-element heavy ones (:func:`apc_wfsm`,
:func:`xnor_apc_cycles`) run on numba threads: on a shared machine every parallel region waits
for its slowest thread, which costs a descheduled time slice (milliseconds) whatever the work, so
the small shared kernels (random numbers, tables, transposes: < 1 ms each) stay serial.
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
def popcount32(typingctx, x):
    """llvm.ctpop on a uint32 (VPOPCNTD / POPCNT)."""
    sig = types.uint32(types.uint32)

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
@njit(nogil=True, cache=True)
def sng_tables(rand, levels, words, out):
    """``out[e, X]`` = the cycle-packed stream ``R_t < X`` of comparator ``e`` for every threshold
    ``X`` in ``0 .. levels - 1`` (``rand`` (S, L): R_t of each comparator, all ``< levels - 1``)."""
    S, L = rand.shape
    for e in prange(S):
        for x in range(levels):
            for w in range(words):
                out[e, x, w] = _ZERO
        for t in range(L):
            v = rand[e, t]
            out[e, v + 1, t >> 6] |= _ONE << np.uint64(t & 63)
        for x in range(1, levels):
            for w in range(words):
                out[e, x, w] |= out[e, x - 1, w]


@njit(nogil=True, cache=True)
def sng_streams(rand, levels, thr, out):
    """``out[b, e]`` = the cycle-packed stream ``R_t < thr[b, e]`` (B, S, W), through the table of
    every threshold's stream of one comparator at a time (:func:`sng_tables` for one ``e``:
    O(L + levels W) per comparator, then one row copy per element; the table stays in L1/L2)."""
    S, L = rand.shape
    B = thr.shape[0]
    W = out.shape[2]
    slab = np.empty((levels, W), dtype=np.uint64)
    for e in range(S):
        for x in range(levels):
            for w in range(W):
                slab[x, w] = _ZERO
        for t in range(L):
            slab[rand[e, t] + 1, t >> 6] |= _ONE << np.uint64(t & 63)
        for x in range(1, levels):
            for w in range(W):
                slab[x, w] |= slab[x - 1, w]
        for b in range(B):
            x = thr[b, e]
            for w in range(W):
                out[b, e, w] = slab[x, w]


@njit(nogil=True, cache=True)
def sng_direct(rand, thr, out):
    """``out[b, e]`` = cycle-packed ``rand[e, t] < thr[b, e]`` (B, S, W)."""
    S, L = rand.shape
    B = thr.shape[0]
    W = out.shape[2]
    for e in prange(S):
        re = rand[e]
        for b in range(B):
            x = thr[b, e]
            for w in range(W):
                acc = _ZERO
                t0 = w * 64
                for tt in range(min(64, L - t0)):
                    acc |= np.uint64(re[t0 + tt] < x) << np.uint64(tt)
                out[b, e, w] = acc


@njit(nogil=True, cache=True)
def stream_ones(bits, out):
    """``out[i]`` = the ones of cycle-packed stream ``bits[i]`` ((n, W) uint64 -> (n,) int64)."""
    n, W = bits.shape
    for i in range(n):
        c = np.int64(0)
        for w in range(W):
            c += np.int64(popcount(bits[i, w]))
        out[i] = c


@njit(nogil=True, cache=True)
def constant_words(jp, on):
    """Whether ``jp[b, t, w] & on[b or 0, w]`` ((B, L, Mw) / (B or 1, Mw) uint32 operand words)
    is the same in every cycle ``t`` of each element (stops at the first difference)."""
    B, L, Mw = jp.shape
    for b in range(B):
        o = on[b if on.shape[0] > 1 else 0]
        for w in range(Mw):
            x0 = jp[b, 0, w] & o[w]
            for t in range(1, L):
                if (jp[b, t, w] & o[w]) != x0:
                    return False
    return True


@njit(nogil=True, cache=True)
def column_sums(words, wcol, out):
    """``out[b, r] = sum_j bit_j(words[b]) wcol[j, r]`` ((B, Mw) uint32 operand words, (Mw * 32,
    R) int32 columns -> (B, R) int64): the weight columns of the ones added up, in integers (the
    exact-gated and one-hot operands have a few ones per element; no float matrix product)."""
    B, Mw = words.shape
    R = wcol.shape[1]
    acc = np.empty(R, dtype=np.int32)
    for b in range(B):
        for r in range(R):
            acc[r] = 0
        for w in range(Mw):
            x = words[b, w]
            while x != np.uint32(0):
                col = wcol[w * 32 + np.int64(trailing_zeros(np.uint64(x)))]
                for r in range(R):
                    acc[r] += col[r]
                x &= x - np.uint32(1)
        for r in range(R):
            out[b, r] = acc[r]


# ----------------------------------------------------------------------------- layouts
@njit(inline="always")
def _transpose64(a):
    """In place: bit ``c`` of ``a[i]`` <-> bit ``i`` of ``a[c]`` (a 64 x 64 bit matrix, LSB first;
    six stages of block swaps, Hacker's Delight 7-3)."""
    j = 32
    m = np.uint64(0x00000000FFFFFFFF)
    while j != 0:
        sj = np.uint64(j)
        k = 0
        while k < 64:
            t = ((a[k] >> sj) ^ a[k + j]) & m
            a[k + j] ^= t
            a[k] ^= t << sj
            k = ((k | j) + 1) & ~j
        j >>= 1
        m ^= m << np.uint64(j)


@njit(nogil=True, cache=True)
def to_element_packed(bits, out):
    """(B, Q, M, W) cycle-packed -> (B, Q, L, Mw) element-packed, by 64 x 64 bit-matrix
    transposes (operand block x cycle word)."""
    B, Q, M, W = bits.shape
    L = out.shape[2]
    Mw = out.shape[3]
    for b in prange(B):
        blk = np.empty(64, dtype=np.uint64)
        for q in range(Q):
            for jw in range(Mw):
                j0 = jw * 64
                nj = min(64, M - j0)
                for w in range(W):
                    for i in range(nj):
                        blk[i] = bits[b, q, j0 + i, w]
                    for i in range(nj, 64):
                        blk[i] = _ZERO
                    _transpose64(blk)
                    t0 = w * 64
                    for c in range(min(64, L - t0)):
                        out[b, q, t0 + c, jw] = blk[c]


@njit(nogil=True, cache=True)
def add_bit_cycles(bits, out):
    """``out[b, t, r] += sum_k (2 bit[b, k, r, t] - 1)`` for row-major streams ``bits``
    (B, K, W, R) (see :func:`rows_last`); ``out`` is (B, L, R) int32."""
    B, K, W, R = bits.shape
    L = out.shape[1]
    for b in prange(B):
        for k in range(K):
            for t in range(L):
                row = bits[b, k, t >> 6]
                sh = np.uint64(t & 63)
                o = out[b, t]
                for r in range(R):
                    o[r] += np.int32(2 * ((row[r] >> sh) & _ONE)) - 1


def rows_last(bits: np.ndarray) -> np.ndarray:
    """(B, K, R, W) cycle-packed streams -> (B, K, W, R) contiguous (rows vectorize)."""
    return np.ascontiguousarray(np.swapaxes(bits, 2, 3))


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


@njit(inline="always")
def _accumulate_but_last(acc, jp_row, on_row, P, N, wcol, deferred):
    """:func:`_accumulate` except for the last two dense (popcounted) words, whose indices it
    writes to ``deferred`` (-1: none) for the caller to fuse into its row loop."""
    R = acc.shape[0]
    deferred[0] = -1
    deferred[1] = -1
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
            continue
        old = deferred[0]
        if old >= 0:
            xo = jp_row[old] & on_row[old]
            Pw = P[old]
            Nw = N[old]
            for r in range(R):
                acc[r] += 2 * (np.int32(popcount(xo & Pw[r])) - np.int32(popcount(xo & Nw[r])))
        deferred[0] = deferred[1]
        deferred[1] = w


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
@njit(nogil=True, cache=True)
def _gather_masks(tab, rw, group, out):
    L, Nw, R = out.shape
    for t in prange(L):
        for k in range(Nw):
            o = out[t, k]
            for r in range(R):
                o[r] = tab[group[r], rw[r, t] + 1, k]


#: largest (table, random value) -> state mask table of :func:`wfsm_masks`, in words
MASK_TABLE_WORDS = 1 << 23


@njit(nogil=True, cache=True)
def wfsm_masks(rw, wq, group, out):
    """The weight comparators of a WFSM bank as state masks, shared by the batch: bit ``s`` of
    ``out[t, s // 64, r]`` is ``rw[t, r] < wq[group[r], s]`` (rw (R, L) random numbers, wq (G, N)
    thresholds), so that an element's output is one shift of its state (no table gather)."""
    R, L = rw.shape
    G, N = wq.shape
    Nw = out.shape[1]
    levels = np.int64(0)
    for r in range(R):
        for t in range(L):
            levels = max(levels, np.int64(rw[r, t]) + 1)
    if G * levels * Nw <= MASK_TABLE_WORDS:         # per (table, random value) first
        # state s is on for v < wq[g, s]: bucket it at k = min(wq, levels); suffix-OR over k; the
        # mask of v is the suffix from k = v + 1
        tab = np.zeros((G, levels + 1, Nw), dtype=np.uint64)
        for g in range(G):
            for st in range(N):
                k = min(np.int64(wq[g, st]), levels)
                tab[g, k, st >> 6] |= _ONE << np.uint64(st & 63)
            for k in range(Nw):
                tab[g, levels - 1, k] |= tab[g, levels, k]
            for v in range(levels - 2, -1, -1):
                for k in range(Nw):
                    tab[g, v, k] |= tab[g, v + 1, k]
        _gather_masks(tab, rw, group, out)
        return
    for r in range(R):
        for t in range(L):
            for k in range(Nw):
                out[t, k, r] = _ZERO
            v = rw[r, t]
            g = group[r]
            for st in range(N):
                if v < wq[g, st]:
                    out[t, st >> 6, r] |= _ONE << np.uint64(st & 63)


@njit(inline="always")
def _fsm_row1(acc, m0, st, word, total, sh, top, want):
    for r in range(acc.shape[0]):
        s = st[r]
        word[r] |= ((m0[r] >> np.uint64(s)) & _ONE) << sh
        a = acc[r]
        st[r] = min(max(s + a, np.int32(0)), top)
    if want:
        for r in range(acc.shape[0]):
            total[r] += acc[r]


@njit(inline="always")
def _fsm_row2(acc, m0, m1, st, word, total, sh, top, want):
    for r in range(acc.shape[0]):
        s = st[r]
        m = m1[r] if s >= 64 else m0[r]
        word[r] |= ((m >> np.uint64(s & 63)) & _ONE) << sh
        a = acc[r]
        st[r] = min(max(s + a, np.int32(0)), top)
    if want:
        for r in range(acc.shape[0]):
            total[r] += acc[r]


@njit(inline="always")
def _fsm_rowk(acc, mk, st, word, total, sh, top, want):
    for r in range(acc.shape[0]):
        s = st[r]
        m = mk[s >> 6, r]
        word[r] |= ((m >> np.uint64(s & 63)) & _ONE) << sh
        a = acc[r]
        st[r] = min(max(s + a, np.int32(0)), top)
    if want:
        for r in range(acc.shape[0]):
            total[r] += acc[r]


@njit(inline="always")
def _fsm_row1p(acc, m0, st, word, total, sh, top, want, x, Pw, Nw, z, Pz, Nz):
    for r in range(acc.shape[0]):
        s = st[r]
        word[r] |= ((m0[r] >> np.uint64(s)) & _ONE) << sh
        a = acc[r] + 2 * (np.int32(popcount(x & Pw[r])) - np.int32(popcount(x & Nw[r]))
                          + np.int32(popcount(z & Pz[r])) - np.int32(popcount(z & Nz[r])))
        acc[r] = a
        st[r] = min(max(s + a, np.int32(0)), top)
    if want:
        for r in range(acc.shape[0]):
            total[r] += acc[r]


@njit(inline="always")
def _fsm_row2p(acc, m0, m1, st, word, total, sh, top, want, x, Pw, Nw, z, Pz, Nz):
    for r in range(acc.shape[0]):
        s = st[r]
        m = m1[r] if s >= 64 else m0[r]
        word[r] |= ((m >> np.uint64(s & 63)) & _ONE) << sh
        a = acc[r] + 2 * (np.int32(popcount(x & Pw[r])) - np.int32(popcount(x & Nw[r]))
                          + np.int32(popcount(z & Pz[r])) - np.int32(popcount(z & Nz[r])))
        acc[r] = a
        st[r] = min(max(s + a, np.int32(0)), top)
    if want:
        for r in range(acc.shape[0]):
            total[r] += acc[r]


@njit(inline="always")
def _fsm_rowkp(acc, mk, st, word, total, sh, top, want, x, Pw, Nw, z, Pz, Nz):
    for r in range(acc.shape[0]):
        s = st[r]
        m = mk[s >> 6, r]
        word[r] |= ((m >> np.uint64(s & 63)) & _ONE) << sh
        a = acc[r] + 2 * (np.int32(popcount(x & Pw[r])) - np.int32(popcount(x & Nw[r]))
                          + np.int32(popcount(z & Pz[r])) - np.int32(popcount(z & Nz[r])))
        acc[r] = a
        st[r] = min(max(s + a, np.int32(0)), top)
    if want:
        for r in range(acc.shape[0]):
            total[r] += acc[r]


#: batch elements a thread steps together through the cycles (the shared per-cycle state masks
#: are read once per block from L1)
ELEMENT_BLOCK = 8


@njit(parallel=True, nogil=True, cache=True)
def apc_wfsm(jp, on, P, N, wcol, bt, base, dense, masks, nstates, state, y, dsum):
    """A bank of R weighted FSMs whose integer input is an APC sum, fused cycle by cycle.

    Input d[b, t, r] = base[b, r] + dense[b or 0, t, r] (per-cycle terms, (0, L, R) for none)
    + the XNOR-popcount terms of the element-packed operands ``jp`` (B, L, Mw) (see
    :func:`_accumulate`) + 2 x the bits of the per-element streams ``bt`` (B or 0, K, W, R) (their
    -K is in ``base``).  Output ``y_t`` = bit ``s_t`` of ``masks[t, :, r]``
    (:func:`wfsm_masks`), cycle-packed into ``y`` (B, R, W); then ``s <- clamp(s + d, 0, N - 1)``;
    ``state`` (B, R) in/out; ``dsum`` (B, R) = sum over the cycles of d (the APC's count), or
    (0, R): not wanted.
    Elements run in blocks of :data:`ELEMENT_BLOCK`, one block per thread at a time."""
    B, R = state.shape
    L = masks.shape[0]
    Nw = masks.shape[1]
    Bd = dense.shape[0]
    Kb = bt.shape[1] if bt.shape[0] > 0 else 0
    want = dsum.shape[0] > 0
    top = np.int32(nstates - 1)
    EB = ELEMENT_BLOCK
    for blk in prange(-(-B // EB)):
        b0 = blk * EB
        nb = min(EB, B - b0)
        st = np.empty((nb, R), dtype=np.int32)
        total = np.zeros((nb, R), dtype=np.int64)
        word = np.zeros((nb, R), dtype=np.uint64)
        for e in range(nb):
            for r in range(R):
                st[e, r] = state[b0 + e, r]
        acc = np.empty(R, dtype=np.int32)
        dw = np.empty(2, dtype=np.int64)
        for t in range(L):
            sh = np.uint64(t & 63)
            m0 = masks[t, 0]
            for e in range(nb):
                b = b0 + e
                if Bd > 0:
                    drow = dense[b if Bd > 1 else 0, t]
                    for r in range(R):
                        acc[r] = base[b, r] + drow[r]
                else:
                    for r in range(R):
                        acc[r] = base[b, r]
                dw[0] = -1
                dw[1] = -1
                if jp.shape[2] > 0:
                    _accumulate_but_last(acc, jp[b, t], on[b], P, N, wcol, dw)
                for k in range(Kb):
                    row = bt[b, k, t >> 6]
                    for r in range(R):
                        acc[r] += np.int32(2 * ((row[r] >> sh) & _ONE))
                if dw[1] >= 0:                 # the last two popcount words fused with the FSM
                    w1 = dw[1]
                    w0 = dw[0] if dw[0] >= 0 else w1
                    x1 = jp[b, t, w1] & on[b, w1]
                    x0 = jp[b, t, w0] & on[b, w0] if dw[0] >= 0 else _ZERO
                    if Nw == 1:
                        _fsm_row1p(acc, m0, st[e], word[e], total[e], sh, top, want, x1, P[w1], N[w1],
                                   x0, P[w0], N[w0])
                    elif Nw == 2:
                        _fsm_row2p(acc, m0, masks[t, 1], st[e], word[e], total[e], sh, top, want, x1, P[w1],
                                   N[w1], x0, P[w0], N[w0])
                    else:
                        _fsm_rowkp(acc, masks[t], st[e], word[e], total[e], sh, top, want, x1, P[w1], N[w1],
                                   x0, P[w0], N[w0])
                elif Nw == 1:
                    _fsm_row1(acc, m0, st[e], word[e], total[e], sh, top, want)
                elif Nw == 2:
                    _fsm_row2(acc, m0, masks[t, 1], st[e], word[e], total[e], sh, top, want)
                else:
                    _fsm_rowk(acc, masks[t], st[e], word[e], total[e], sh, top, want)
            if (t & 63) == 63 or t == L - 1:
                w = t >> 6
                for e in range(nb):
                    for r in range(R):
                        y[b0 + e, r, w] = word[e, r]
                        word[e, r] = _ZERO
        for e in range(nb):
            for r in range(R):
                state[b0 + e, r] = st[e, r]
                if want:
                    dsum[b0 + e, r] = total[e, r]


__all__ = ["add_bit_cycles", "apc_wfsm", "column_sums", "popcount", "popcount32", "rows_last",
           "sng_direct", "sng_streams", "sng_tables", "stream_ones", "to_element_packed", "trailing_zeros",
           "wfsm_masks", "xnor_apc_cycles"]
