"""The fused APC + weighted-FSM bank kernel of the packed runtime (:mod:`.packed`), on 32-bit lanes.

Same function as :func:`~.packed_kernels.apc_wfsm` (the reference kernel it replaced, kept for
the tests), but every per-row quantity of the inner loops is 32 bits wide (the operand and weight
words, the popcounts, the APC sum, the FSM state, the state masks and the output words), so that
each row loop vectorizes at 16 rows per AVX-512 register (8 with AVX2) with no width conversions:

* operands are element-packed 32 per uint32 (the uint64 words viewed little-endian: operand ``j``
  is bit ``j % 32`` of word ``j // 32``); a word of XNOR weights of row ``r`` is
  ``Z = P | N`` (nonzero weights) and ``N`` (weight -1), and since ``P`` and ``N`` are disjoint
  ``popcount(x & P) - popcount(x & N) = popcount((x & Z) ^ N) - popcount(N)``: one popcount per
  word and row, the ``popcount(N)`` corrections summed per XNOR bank (``npc``/``npct``);
* the state masks (:func:`wfsm_masks32`) are 32 states per word, padded to 1, 2 or 4 words (a
  select, no gather) for up to 128 states, gathered above;
* output streams are written as uint32 words of 32 cycles (the uint64 streams viewed
  little-endian).

Layouts and the per-element block scheme are those of :mod:`.packed_kernels`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from .packed_kernels import popcount32, trailing_zeros

_ONE32 = np.uint32(1)
_ZERO32 = np.uint32(0)

#: largest (table, random value) -> state mask table of :func:`wfsm_masks32`, in words
MASK_TABLE_WORDS = 1 << 24


def mask_words(nstates: int) -> int:
    """uint32 state-mask words per (cycle, row) for ``nstates`` states (1, 2, 4, 8, then exact)."""
    k = -(-int(nstates) // 32)
    return k if k <= 2 else (4 if k <= 4 else (8 if k <= 8 else k))


@njit(nogil=True, cache=True)
def wfsm_masks32(rw, wq, group, out):
    """Bit ``s % 32`` of ``out[t, s // 32, r]`` is ``rw[r, t] < wq[group[r], s]`` (rw (R, L) random
    numbers, wq (G, N) thresholds; words past the last state are 0)."""
    R, L = rw.shape
    G, N = wq.shape
    Nw = out.shape[1]
    levels = np.int64(0)
    for r in range(R):
        for t in range(L):
            levels = max(levels, np.int64(rw[r, t]) + 1)
    if G * (levels + 1) * Nw <= MASK_TABLE_WORDS:
        # state s is on for v < wq[g, s]: bucket it at k = min(wq, levels); suffix-OR over k.  The
        # table holds 64 states per word (half the lookups), split into two 32-state words
        H = (Nw + 1) // 2
        tab = np.zeros((G, H, levels + 1), dtype=np.uint64)
        for g in range(G):
            for st in range(N):
                k = min(np.int64(wq[g, st]), levels)
                tab[g, st >> 6, k] |= np.uint64(1) << np.uint64(st & 63)
            for k in range(H):
                for v in range(levels - 1, -1, -1):
                    tab[g, k, v] |= tab[g, k, v + 1]
        # flat table index per (cycle, row), unsigned (no wraparound checks in the gather loop)
        stride = np.uint64(levels + 1)
        off = np.empty(R, dtype=np.uint64)
        for r in range(R):
            off[r] = np.uint64(group[r]) * np.uint64(H) * stride + np.uint64(1)
        # in tiles of 16 cycles: the (cycle, row) index tile is transposed from rw and read back
        # while it is in L1/L2 (no L x R index array)
        TT = 16
        idx = np.empty((TT, R), dtype=np.uint64)
        flat = tab.reshape(-1)
        low = np.uint64(0xFFFFFFFF)
        for t in range(L):
            i = t % TT
            if i == 0:
                for r in range(R):
                    o_ = off[r]
                    for tt in range(min(TT, L - t)):
                        idx[tt, r] = o_ + rw[r, t + tt]
            it = idx[i]
            for k in range(H):
                ko = np.uint64(k) * stride
                o = out[t, 2 * k]
                if 2 * k + 1 < Nw:
                    o1 = out[t, 2 * k + 1]
                    for r in range(R):
                        m = flat[it[r] + ko]
                        o[r] = np.uint32(m & low)
                        o1[r] = np.uint32(m >> np.uint64(32))
                else:
                    for r in range(R):
                        o[r] = np.uint32(flat[it[r] + ko] & low)
            for k in range(2 * H, Nw):                  # padding words (no states)
                o = out[t, k]
                for r in range(R):
                    o[r] = _ZERO32
        return
    for t in range(L):
        for k in range(Nw):
            for r in range(R):
                out[t, k, r] = _ZERO32
    for r in range(R):
        for t in range(L):
            v = rw[r, t]
            g = group[r]
            for st in range(N):
                if v < wq[g, st]:
                    out[t, st >> 5, r] |= _ONE32 << np.uint32(st & 31)


# ----------------------------------------------------------------------------- 32-bit lane ops
# (numba widens integer arithmetic to 64 bits, which halves the lanes of a vectorized loop)
@intrinsic
def _add32(typingctx, a, b):
    """int32 + int32 -> int32 (wrapping; the operands here are far from overflow)."""
    sig = types.int32(types.int32, types.int32)

    def codegen(context, builder, signature, args):
        return builder.add(args[0], args[1])

    return sig, codegen


@intrinsic
def _bit32(typingctx, m, s):
    """Bit ``s & 31`` of the uint32 ``m`` (as a uint32 0 or 1)."""
    sig = types.uint32(types.uint32, types.int32)

    def codegen(context, builder, signature, args):
        i32 = args[0].type
        k = builder.and_(args[1], i32(31))
        return builder.and_(builder.lshr(args[0], k), i32(1))

    return sig, codegen


@intrinsic
def _shl32(typingctx, x, k):
    """uint32 ``x << k`` (``k`` < 32)."""
    sig = types.uint32(types.uint32, types.uint32)

    def codegen(context, builder, signature, args):
        return builder.shl(args[0], args[1])

    return sig, codegen


# ----------------------------------------------------------------------------- row loops
@njit(inline="always")
def _pops2(acc, e, lo, hi, x0, Z0, N0, x1, Z1, N1):
    for r in range(np.uint64(lo), np.uint64(hi)):
        acc[e, r] += np.int32(2) * (np.int32(popcount32((x0 & Z0[r]) ^ N0[r]))
                                    + np.int32(popcount32((x1 & Z1[r]) ^ N1[r])))


@njit(inline="always")
def _pops1(acc, e, lo, hi, x0, Z0, N0):
    for r in range(np.uint64(lo), np.uint64(hi)):
        acc[e, r] += np.int32(2) * np.int32(popcount32((x0 & Z0[r]) ^ N0[r]))


@njit(inline="always")
def _clamp(s, a, top):
    v = _add32(s, a)
    v = v if v > np.int32(0) else np.int32(0)
    return v if v < top else top


@njit(inline="always")
def _step1(acc, st, word, e, lo, hi, m0, sh, top):
    for r in range(np.uint64(lo), np.uint64(hi)):
        s = st[e, r]
        word[e, r] |= _shl32(_bit32(m0[r], s), sh)
        st[e, r] = _clamp(s, acc[e, r], top)


@njit(inline="always")
def _step2(acc, st, word, e, lo, hi, m0, m1, sh, top):
    for r in range(np.uint64(lo), np.uint64(hi)):
        s = st[e, r]
        a0 = m0[r]
        a1 = m1[r]
        m = a1 if s >= 32 else a0
        word[e, r] |= _shl32(_bit32(m, s), sh)
        st[e, r] = _clamp(s, acc[e, r], top)


@njit(inline="always")
def _step4(acc, st, word, e, lo, hi, m0, m1, m2, m3, sh, top):
    for r in range(np.uint64(lo), np.uint64(hi)):
        s = st[e, r]
        a0 = m0[r]
        a1 = m1[r]
        a2 = m2[r]
        a3 = m3[r]
        lo_ = a1 if s >= 32 else a0
        hi_ = a3 if s >= 96 else a2
        m = hi_ if s >= 64 else lo_
        word[e, r] |= _shl32(_bit32(m, s), sh)
        st[e, r] = _clamp(s, acc[e, r], top)


@njit(inline="always")
def _step4p4(acc, st, word, e, lo, hi, m0, m1, m2, m3, sh, top, x0, Z0, N0, x1, Z1, N1, x2, Z2, N2, x3, Z3, N3):
    """:func:`_step4` with the popcounts of 4 dense operand words fused in (no pass over acc)."""
    for r in range(np.uint64(lo), np.uint64(hi)):
        s = st[e, r]
        a0 = m0[r]
        a1 = m1[r]
        a2 = m2[r]
        a3 = m3[r]
        lo_ = a1 if s >= 32 else a0
        hi_ = a3 if s >= 96 else a2
        m = hi_ if s >= 64 else lo_
        word[e, r] |= _shl32(_bit32(m, s), sh)
        p = (np.int32(popcount32((x0 & Z0[r]) ^ N0[r])) + np.int32(popcount32((x1 & Z1[r]) ^ N1[r]))
             + np.int32(popcount32((x2 & Z2[r]) ^ N2[r])) + np.int32(popcount32((x3 & Z3[r]) ^ N3[r])))
        st[e, r] = _clamp(s, _add32(acc[e, r], np.int32(2 * p)), top)


@njit(inline="always")
def _step4p4d(bb, drow, st, word, e, lo, hi, m0, m1, m2, m3, sh, top, x0, Z0, N0, x1, Z1, N1, x2, Z2, N2, x3, Z3,
              N3):
    """:func:`_step4p4` with the input's base and shared per-cycle row read directly (no acc)."""
    for r in range(np.uint64(lo), np.uint64(hi)):
        s = st[e, r]
        a0 = m0[r]
        a1 = m1[r]
        a2 = m2[r]
        a3 = m3[r]
        lo_ = a1 if s >= 32 else a0
        hi_ = a3 if s >= 96 else a2
        m = hi_ if s >= 64 else lo_
        word[e, r] |= _shl32(_bit32(m, s), sh)
        p = (np.int32(popcount32((x0 & Z0[r]) ^ N0[r])) + np.int32(popcount32((x1 & Z1[r]) ^ N1[r]))
             + np.int32(popcount32((x2 & Z2[r]) ^ N2[r])) + np.int32(popcount32((x3 & Z3[r]) ^ N3[r])))
        st[e, r] = _clamp(s, _add32(_add32(bb[r], drow[r]), np.int32(2 * p)), top)


@njit(inline="always")
def _sel8(mk, r, s):
    """Word ``s // 32`` of the 8 mask words ``mk[:, r]``, by selects (no gather)."""
    a0 = mk[0, r]
    a1 = mk[1, r]
    a2 = mk[2, r]
    a3 = mk[3, r]
    a4 = mk[4, r]
    a5 = mk[5, r]
    a6 = mk[6, r]
    a7 = mk[7, r]
    b0 = a1 if s >= 32 else a0
    b1 = a3 if s >= 96 else a2
    b2 = a5 if s >= 160 else a4
    b3 = a7 if s >= 224 else a6
    c0 = b1 if s >= 64 else b0
    c1 = b3 if s >= 192 else b2
    return c1 if s >= 128 else c0


@njit(inline="always")
def _step8(acc, st, word, e, lo, hi, mk, sh, top):
    for r in range(np.uint64(lo), np.uint64(hi)):
        s = st[e, r]
        word[e, r] |= _shl32(_bit32(_sel8(mk, r, s), s), sh)
        st[e, r] = _clamp(s, acc[e, r], top)


@njit(inline="always")
def _step8p4(acc, st, word, e, lo, hi, mk, sh, top, x0, Z0, N0, x1, Z1, N1, x2, Z2, N2, x3, Z3, N3):
    """:func:`_step8` with the popcounts of 4 dense operand words fused in."""
    for r in range(np.uint64(lo), np.uint64(hi)):
        s = st[e, r]
        word[e, r] |= _shl32(_bit32(_sel8(mk, r, s), s), sh)
        p = (np.int32(popcount32((x0 & Z0[r]) ^ N0[r])) + np.int32(popcount32((x1 & Z1[r]) ^ N1[r]))
             + np.int32(popcount32((x2 & Z2[r]) ^ N2[r])) + np.int32(popcount32((x3 & Z3[r]) ^ N3[r])))
        st[e, r] = _clamp(s, _add32(acc[e, r], np.int32(2 * p)), top)


@njit(inline="always")
def _step8p4d(bb, drow, st, word, e, lo, hi, mk, sh, top, x0, Z0, N0, x1, Z1, N1, x2, Z2, N2, x3, Z3, N3):
    """:func:`_step8p4` with the input's base and shared per-cycle row read directly (no acc)."""
    for r in range(np.uint64(lo), np.uint64(hi)):
        s = st[e, r]
        word[e, r] |= _shl32(_bit32(_sel8(mk, r, s), s), sh)
        p = (np.int32(popcount32((x0 & Z0[r]) ^ N0[r])) + np.int32(popcount32((x1 & Z1[r]) ^ N1[r]))
             + np.int32(popcount32((x2 & Z2[r]) ^ N2[r])) + np.int32(popcount32((x3 & Z3[r]) ^ N3[r])))
        st[e, r] = _clamp(s, _add32(_add32(bb[r], drow[r]), np.int32(2 * p)), top)


@njit(inline="always")
def _stepk(acc, st, word, e, lo, hi, mk, sh, top):
    for r in range(np.uint64(lo), np.uint64(hi)):
        s = st[e, r]
        m = mk[s >> 5, r]
        word[e, r] |= _shl32(_bit32(m, s), sh)
        st[e, r] = _clamp(s, acc[e, r], top)


#: batch elements a thread steps together through the cycles
ELEMENT_BLOCK = 8
#: rows per tile of the popcount + FSM passes (a tile's weight words, state masks and the block's
#: sums, states and output words stay in L1/L2 across the block's elements); 512 (a whole LSTM-128
#: gate bank): each row loop is entered once per (cycle, element), which measured 1.4-1.5x faster
#: than tiles of 128 on the Shakespeare gate bank (the per-entry setup outweighs the cache misses)
ROW_TILE = 512
#: operand words with at most this many ones add weight columns instead of a popcount pass
SPARSE_ONES = 2


@njit(parallel=True, nogil=True, cache=True)
def wfsm_bank(jd, od, js, os_, Z, Nm, wcol, npc, bt, base, dense, masks, nstates, state, y, dsum):
    """A bank of R weighted FSMs whose integer input is an APC sum, fused cycle by cycle.

    Input ``d[b, t, r] = base[b, r] + dense[b or 0, t, r]`` (``dense`` (0, L, R): none) + the
    XNOR-popcount terms of the element-packed operand words: the dense ones ``jd`` (B or 1, L, Md)
    uint32 gated by ``od`` (B or 1, Md), ``2 popcount((x & Z[w, r]) ^ Nm[w, r])`` per word ``x``
    (their ``-2 popcount(Nm)`` is in ``base``), then the sparse ones ``js`` / ``os_`` (B or 1,
    L, Ms) / (B or 1, Ms) (one-hot inputs, gated operands; word ``w`` of them is word Md + w of
    ``Z``, ``Nm``, ``npc`` and ``wcol``): zero words add nothing, words with at most
    :data:`SPARSE_ONES` ones add the weight columns ``wcol`` (Mw * 32, R) = 2 w, others
    ``2 popcount(...) - npc[w]`` (``npc = 2 popcount(Nm)``); + 2 x the bits of the per-element
    streams ``bt`` (B or 0, K, W32, R) uint32 (cycle ``t`` = bit ``t % 32`` of word ``t // 32``;
    their -K is in ``base``).  Output ``y_t`` = bit ``s_t`` of the state masks ``masks[t, :, r]``
    (:func:`wfsm_masks32`), written as 32-cycle words into ``y`` (B, R, W32) uint32; then
    ``s <- clamp(s + d, 0, nstates - 1)``; ``state`` (B, R) in/out; ``dsum`` (B, R) = the sum of
    d over the cycles, or (0, R): not wanted.

    Elements run in blocks of :data:`ELEMENT_BLOCK` (one per thread at a time), rows in tiles
    of :data:`ROW_TILE` within a block."""
    B, R = state.shape
    L = masks.shape[0]
    NW = masks.shape[1]
    ndense = jd.shape[2]
    Ms = js.shape[2]
    Bd = dense.shape[0]
    Kb = bt.shape[1] if bt.shape[0] > 0 else 0
    want = dsum.shape[0] > 0
    top = np.int32(nstates - 1)
    EB = ELEMENT_BLOCK
    RT = ROW_TILE
    # the common gate bank (4 dense operand words, a shared per-cycle row, no other terms): the
    # step reads base + the shared row directly, no pass over acc
    direct = ndense == 4 and (NW == 4 or NW == 8) and not want and Ms == 0 and Kb == 0 and Bd <= 1
    zrow = np.zeros(R, dtype=np.int32)
    for blk in prange(-(-B // EB)):
        b0 = blk * EB
        nb = min(EB, B - b0)
        st = np.empty((nb, R), dtype=np.int32)
        total = np.zeros((nb if want else 0, R), dtype=np.int64)
        word = np.zeros((nb, R), dtype=np.uint32)
        acc = np.empty((nb, R), dtype=np.int32)
        xs = np.empty((nb, max(ndense, 1)), dtype=np.uint32)
        for e in range(nb):
            for r in range(R):
                st[e, r] = state[b0 + e, r]
        for t in range(L):
            sh = np.uint32(t & 31)
            tw = t >> 5
            drow = dense[0, t] if Bd == 1 else zrow
            for e in range(nb):
                b = b0 + e
                bb = base[b]
                if direct:                                   # only the dense operand words
                    bj = b if jd.shape[0] > 1 else 0
                    bo = b if od.shape[0] > 1 else 0
                    for w in range(ndense):
                        xs[e, w] = jd[bj, t, w] & od[bo, w]
                    continue
                if Bd > 0:
                    drow = dense[b if Bd > 1 else 0, t]
                    for r in range(R):
                        acc[e, r] = bb[r] + drow[r]
                else:
                    for r in range(R):
                        acc[e, r] = bb[r]
                bj = b if jd.shape[0] > 1 else 0
                bo = b if od.shape[0] > 1 else 0
                for w in range(ndense):
                    xs[e, w] = jd[bj, t, w] & od[bo, w]
                bj = b if js.shape[0] > 1 else 0
                bo = b if os_.shape[0] > 1 else 0
                for ws in range(Ms):
                    w = ndense + ws
                    x = js[bj, t, ws] & os_[bo, ws]
                    if x == _ZERO32:
                        continue
                    if popcount32(x) <= SPARSE_ONES:
                        while x != _ZERO32:
                            col = wcol[w * 32 + np.int64(trailing_zeros(np.uint64(x)))]
                            for r in range(R):
                                acc[e, r] += col[r]
                            x &= x - _ONE32
                    else:
                        _pops1(acc, e, 0, R, x, Z[w], Nm[w])
                        c = npc[w]
                        for r in range(R):
                            acc[e, r] -= c[r]
                for k in range(Kb):
                    row = bt[b, k, tw]
                    for r in range(R):
                        acc[e, r] += np.int32(2) * np.int32((row[r] >> sh) & _ONE32)
            for lo in range(0, R, RT):
                hi = min(R, lo + RT)
                for e in range(nb):
                    if direct:
                        bb = base[b0 + e]
                        if NW == 4:
                            _step4p4d(bb, drow, st, word, e, lo, hi, masks[t, 0], masks[t, 1], masks[t, 2],
                                      masks[t, 3], sh, top, xs[e, 0], Z[0], Nm[0], xs[e, 1], Z[1], Nm[1], xs[e, 2],
                                      Z[2], Nm[2], xs[e, 3], Z[3], Nm[3])
                        else:
                            _step8p4d(bb, drow, st, word, e, lo, hi, masks[t], sh, top, xs[e, 0], Z[0], Nm[0],
                                      xs[e, 1], Z[1], Nm[1], xs[e, 2], Z[2], Nm[2], xs[e, 3], Z[3], Nm[3])
                        continue
                    if ndense == 4 and NW == 4 and not want:
                        _step4p4(acc, st, word, e, lo, hi, masks[t, 0], masks[t, 1], masks[t, 2], masks[t, 3], sh,
                                 top, xs[e, 0], Z[0], Nm[0], xs[e, 1], Z[1], Nm[1], xs[e, 2], Z[2], Nm[2],
                                 xs[e, 3], Z[3], Nm[3])
                        continue
                    if ndense == 4 and NW == 8 and not want:
                        _step8p4(acc, st, word, e, lo, hi, masks[t], sh, top, xs[e, 0], Z[0], Nm[0], xs[e, 1], Z[1],
                                 Nm[1], xs[e, 2], Z[2], Nm[2], xs[e, 3], Z[3], Nm[3])
                        continue
                    w = 0
                    while w + 1 < ndense:
                        _pops2(acc, e, lo, hi, xs[e, w], Z[w], Nm[w], xs[e, w + 1], Z[w + 1], Nm[w + 1])
                        w += 2
                    if w < ndense:
                        _pops1(acc, e, lo, hi, xs[e, w], Z[w], Nm[w])
                    if want:
                        for r in range(np.uint64(lo), np.uint64(hi)):
                            total[e, r] += acc[e, r]
                    if NW == 1:
                        _step1(acc, st, word, e, lo, hi, masks[t, 0], sh, top)
                    elif NW == 2:
                        _step2(acc, st, word, e, lo, hi, masks[t, 0], masks[t, 1], sh, top)
                    elif NW == 4:
                        _step4(acc, st, word, e, lo, hi, masks[t, 0], masks[t, 1], masks[t, 2], masks[t, 3],
                               sh, top)
                    elif NW == 8:
                        _step8(acc, st, word, e, lo, hi, masks[t], sh, top)
                    else:
                        _stepk(acc, st, word, e, lo, hi, masks[t], sh, top)
            if (t & 31) == 31 or t == L - 1:
                for e in range(nb):
                    for r in range(R):
                        y[b0 + e, r, tw] = word[e, r]
                        word[e, r] = _ZERO32
        for e in range(nb):
            for r in range(R):
                state[b0 + e, r] = st[e, r]
                if want:
                    dsum[b0 + e, r] = total[e, r]


def words32(a: np.ndarray) -> np.ndarray:
    """(Mw, R) uint64 words -> (2 Mw, R) uint32: word 2w the low half of word w (little-endian)."""
    a = np.asarray(a, dtype=np.uint64)
    out = np.empty((2 * a.shape[0],) + a.shape[1:], dtype=np.uint32)
    out[0::2] = (a & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    out[1::2] = (a >> np.uint64(32)).astype(np.uint32)
    return out


def rows_last32(bits: np.ndarray) -> np.ndarray:
    """(B, K, R, W) cycle-packed uint64 streams -> (B, K, 2W, R) uint32 32-cycle words."""
    b = np.ascontiguousarray(bits, dtype=np.uint64).view(np.uint32)
    return np.ascontiguousarray(np.swapaxes(b, 2, 3))


__all__ = ["ELEMENT_BLOCK", "mask_words", "rows_last32", "wfsm_bank", "wfsm_masks32", "words32"]
