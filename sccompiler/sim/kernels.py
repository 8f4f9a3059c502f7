"""Compiled (numba) kernels for the sequential parts of the simulator.

Two layouts are used:

* **bit-sliced** ("planes"): 64 streams share one uint64 word; an n-bit per-stream quantity is
  ``n`` words (planes), plane ``j`` holding bit ``j`` of all 64 streams.  LFSR leaps, the R < X
  comparator, the saturating FSM and the output counters are then pure word logic, evaluated on
  groups of ``GROUP`` words so that LLVM emits SIMD code.  Used for the fast FSM path.
* **per-stream**: one integer per stream (integral streams, ideal/Sobol sources, netlists).

All kernels take their state as in/out arrays so a caller can run a long stream in chunks (bounded
memory) or carry registers across recurrent time steps.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_ZERO = np.uint64(0)


# ----------------------------------------------------------------------------- scalar LFSR
@njit(cache=True)
def _apply_tables(tables, s):
    return (tables[0, s & np.uint64(255)] ^ tables[1, (s >> np.uint64(8)) & np.uint64(255)]
            ^ tables[2, (s >> np.uint64(16)) & np.uint64(255)]
            ^ tables[3, (s >> np.uint64(24)) & np.uint64(255)])


@njit(cache=True)
def lfsr_state_sequence(tables, s0, length):
    """States at the start of cycles 0..length-1 of one leap-forward LFSR (tables: byte_tables)."""
    out = np.empty(length, dtype=np.uint64)
    s = np.uint64(s0)
    for t in range(length):
        out[t] = s
        s = _apply_tables(tables, s)
    return out


@njit(parallel=True, cache=True)
def lfsr_fill(tables, states, out, bits_mask):
    """Per-stream LFSRs: ``out[t, k] = states[k] & bits_mask`` then leap; ``states`` updated."""
    length, count = out.shape
    for k in prange(count):
        s = states[k]
        for t in range(length):
            out[t, k] = s & bits_mask
            s = _apply_tables(tables, s)
        states[k] = s


@njit(cache=True)
def gather_taps(states, src, taps, nbits, offsets, out):
    """Comparator random numbers from shared source registers (docs/semantics.md §2.4),
    comparator-major: ``out[c, t] = sum_{k < nbits[c]} bit(states[src[c], t], taps[c, k]) << k``
    (``states`` (S, L): one row of states per register); a comparator whose taps are the
    contiguous bits ``offsets[c] ..`` reads a shifted mask instead (the same value); a pruned one
    (``src[c] < 0``) reads 0."""
    count = src.shape[0]
    length = states.shape[1]
    for c in range(count):
        s = src[c]
        if s < 0:
            for t in range(length):
                out[c, t] = _ZERO
            continue
        row = states[s]
        bits = nbits[c]
        off = offsets[c]
        if off >= 0:
            sh = np.uint64(off)
            mask = (np.uint64(1) << np.uint64(bits)) - np.uint64(1)
            for t in range(length):
                out[c, t] = (row[t] >> sh) & mask
            continue
        for t in range(length):
            v = row[t]
            r = _ZERO
            for k in range(bits):
                r |= ((v >> np.uint64(taps[c, k])) & np.uint64(1)) << np.uint64(k)
            out[c, t] = r


# ----------------------------------------------------------------------------- per-stream FSM
@njit(parallel=True, cache=True)
def fsm_streams(steps, rand_w, wq, half, nstates, state, counts, occ):
    """Integer-step saturating FSM, one stream per lane, for one chunk of cycles.

    steps[t, b]: signed increment d_t (a binary stream is d = 2 bit - 1).  Output in cycle t is
    ``rand_w[t, b] < wq[s_t]`` if ``rand_w`` has rows, else the Stanh bit ``s_t >= half``; then
    ``s <- clamp(s + d, 0, N - 1)``.  ``state``, ``counts`` (ones of the output) and ``occ``
    (B, N) visit counts (or a (0, 0) array) are updated in place.
    """
    length, batch = steps.shape
    weighted = rand_w.shape[0] > 0
    want_occ = occ.shape[0] > 0
    top = nstates - 1
    for b in prange(batch):
        s = np.int64(state[b])
        c = np.int64(counts[b])
        for t in range(length):
            if weighted:
                if rand_w[t, b] < wq[s]:
                    c += 1
            elif s >= half:
                c += 1
            if want_occ:
                occ[b, s] += 1
            s += steps[t, b]
            if s < 0:
                s = 0
            elif s > top:
                s = top
        state[b] = s
        counts[b] = c


@njit(parallel=True, cache=True)
def fsm_streams_out(steps, rand_w, wq, half, nstates, state, y_out):
    """Like :func:`fsm_streams` but writes the output bit of every cycle to ``y_out[t, b]``."""
    length, batch = steps.shape
    weighted = rand_w.shape[0] > 0
    top = nstates - 1
    for b in prange(batch):
        s = np.int64(state[b])
        for t in range(length):
            if weighted:
                y_out[t, b] = rand_w[t, b] < wq[s]
            else:
                y_out[t, b] = s >= half
            s += steps[t, b]
            if s < 0:
                s = 0
            elif s > top:
                s = top
        state[b] = s


@njit(parallel=True, cache=True)
def updown_streams(steps, lo, hi, value):
    """Up/down counter per stream: ``value[b] <- clamp(value[b] + steps[t, b], lo, hi)``."""
    length, batch = steps.shape
    for b in prange(batch):
        v = np.int64(value[b])
        for t in range(length):
            v += steps[t, b]
            if v < lo:
                v = lo
            elif v > hi:
                v = hi
        value[b] = v


# ----------------------------------------------------------------------------- bit-sliced FSM
#: words (x 64 streams) a thread processes together; every gate of the circuit is one loop over
#: these words on contiguous rows, which LLVM turns into SIMD code (measured ~10x faster than
#: processing one word at a time, which is latency-bound on the comparator's borrow chain).
#: 128 measured best here (64: -25%, 256: -30%, the planes then spill out of L1).
LANE_WORDS = 128


def lane_words(nwords: int) -> int:
    """Group size for the bit-sliced kernels (nwords is padded to a multiple of it): at most
    LANE_WORDS, and small enough that every numba thread gets a group."""
    threads = numba.get_num_threads()
    return max(1, min(LANE_WORDS, -(-nwords // threads)))


@njit(parallel=True, cache=True)
def fsm_sliced_lfsr(lfsr, x_planes, taps, stride, nbits, state, nstates, half,
                    wlfsr, wtaps, wstride, rom, rom_out, rom_regs, counts, occ, length, group):
    """Fused bit-sliced SNG (per-stream leap-forward LFSR + comparator) + linear FSM + output.

    Per cycle t and lane: ``bit = (R_t < X)`` with ``R_t`` the low ``nbits`` of the LFSR state
    (``x_planes`` has nbits+1 planes, the top one for X = 2^n); output ``y`` from the state
    s_t (Stanh ``s >= half`` when ``wlfsr`` has no planes, else ``R'_t < Wq[s_t]`` with R' the low
    ``rom_out.shape[0]-1`` bits of the weight LFSR and Wq[s] evaluated by the mux program
    ``rom`` of :func:`~sccompiler.sim.primitives.weight_rom_program`); count y (and the state
    visit if ``occ`` has rows); then the LFSRs leap ``stride`` Galois steps and the FSM saturates.
    All of ``lfsr``, ``state``, ``wlfsr``, ``counts``, ``occ`` are in/out bit planes (counts and
    occ are vertical counters); words are processed ``group`` at a time (nwords % group == 0).

    LFSR planes live in a rotating buffer: logical bit j is row (h + j) % W, so a Galois step is
    a rotation (free: h += 1, the shifted-out lsb becomes the top bit) plus one XOR pass per tap
    below the top bit (``taps``); cheaper than the dense leap matrix (48 vs 77 passes at W=16).
    """
    width, nwords = lfsr.shape
    wwidth = wlfsr.shape[0]
    sbits = state.shape[0]
    weighted = wwidth > 0
    wbits = rom_out.shape[0] - 1 if weighted else 0
    nocc = occ.shape[0]
    top = nstates - 1
    G = group
    for grp in prange(nwords // G):
        c0 = grp * G
        s = np.ascontiguousarray(lfsr[:, c0:c0 + G])
        ws = np.ascontiguousarray(wlfsr[:, c0:c0 + G])
        h = 0
        wh = 0
        xs = np.ascontiguousarray(x_planes[:, c0:c0 + G])
        st = np.ascontiguousarray(state[:, c0:c0 + G])
        cnt = np.ascontiguousarray(counts[:, c0:c0 + G])
        occ_g = np.ascontiguousarray(occ[:, :, c0:c0 + G])
        lo_bits = sbits // 2
        lo_mask = (1 << lo_bits) - 1
        dec_lo = np.empty((1 << lo_bits if nocc > 0 else 0, G), dtype=np.uint64)
        dec_hi = np.empty((1 << (sbits - lo_bits) if nocc > 0 else 0, G), dtype=np.uint64)
        regs = np.empty((max(rom_regs, 2), G), dtype=np.uint64)
        regs[0] = _ZERO
        regs[1] = _ONES
        bit = np.empty(G, dtype=np.uint64)
        y = np.empty(G, dtype=np.uint64)
        up = np.empty(G, dtype=np.uint64)
        dn = np.empty(G, dtype=np.uint64)
        hot = np.empty(G, dtype=np.uint64)
        carry = np.empty(G, dtype=np.uint64)
        small = np.zeros((SMALL_BITS, G), dtype=np.uint64)
        occ_small = np.zeros((nocc, SMALL_BITS, G), dtype=np.uint64)
        for t in range(length):
            # comparator R < X: borrow of R - X, MAJ(~r, x, c) = (~(r ^ c) & (x ^ c)) ^ c
            # (four bits per pass: the borrow stays in a register between them)
            bit[:] = _ZERO
            j = 0
            while j + 4 <= nbits:
                r0 = s[(h + j) % width]
                r1 = s[(h + j + 1) % width]
                r2 = s[(h + j + 2) % width]
                r3 = s[(h + j + 3) % width]
                x0 = xs[j]
                x1 = xs[j + 1]
                x2 = xs[j + 2]
                x3 = xs[j + 3]
                for g in range(G):
                    c = bit[g]
                    c = (~(r0[g] ^ c) & (x0[g] ^ c)) ^ c
                    c = (~(r1[g] ^ c) & (x1[g] ^ c)) ^ c
                    c = (~(r2[g] ^ c) & (x2[g] ^ c)) ^ c
                    bit[g] = (~(r3[g] ^ c) & (x3[g] ^ c)) ^ c
                j += 4
            while j < nbits:
                rj = s[(h + j) % width]
                xj = xs[j]
                for g in range(G):
                    c = bit[g]
                    bit[g] = (~(rj[g] ^ c) & (xj[g] ^ c)) ^ c
                j += 1
            xn = xs[nbits]
            for g in range(G):
                bit[g] |= xn[g]
            # output from the state at the start of the cycle (and state visits)
            if nocc > 0:
                # one-hot state decode as a product of two half decoders (fewer passes)
                for v in range(dec_lo.shape[0]):
                    _equals_const(st[:lo_bits], v, dec_lo[v])
                for v in range(dec_hi.shape[0]):
                    _equals_const(st[lo_bits:], v, dec_hi[v])
                for i in range(nocc):
                    dl = dec_lo[i & lo_mask]
                    dh = dec_hi[i >> lo_bits]
                    for g in range(G):
                        hot[g] = dl[g] & dh[g]
                    _vinc(occ_small[i], hot)
            if weighted:
                # Wq[s] bit planes: literals, then one mux pass per ROM instruction
                for j in range(sbits):
                    sj = st[j]
                    pos = regs[2 + 2 * j]
                    neg = regs[3 + 2 * j]
                    for g in range(G):
                        pos[g] = sj[g]
                        neg[g] = ~sj[g]
                for e in range(rom.shape[0]):
                    rd = regs[rom[e, 0]]
                    sk = st[rom[e, 1]]
                    ra = regs[rom[e, 2]]
                    rb = regs[rom[e, 3]]
                    for g in range(G):
                        rd[g] = ((ra[g] ^ rb[g]) & sk[g]) ^ rb[g]
                y[:] = _ZERO
                for j in range(wbits):
                    rj = ws[(wh + j) % wwidth]
                    wj = regs[rom_out[j]]
                    for g in range(G):
                        c = y[g]
                        y[g] = (~(rj[g] ^ c) & (wj[g] ^ c)) ^ c
                wtop = regs[rom_out[wbits]]
                for g in range(G):
                    y[g] |= wtop[g]
                wh = _galois_steps(ws, wh, wtaps, wstride)
            else:
                # y = s >= half  <=>  no borrow out of s - half
                y[:] = _ZERO
                for j in range(sbits):
                    sj = st[j]
                    if (half >> j) & 1:
                        for g in range(G):
                            y[g] = ~sj[g] | y[g]
                    else:
                        for g in range(G):
                            y[g] = ~sj[g] & y[g]
                for g in range(G):
                    y[g] = ~y[g]
            _vinc(small, y)
            if (t + 1) % SMALL_MAX == 0 or t + 1 == length:
                _vflush(small, cnt, carry)
                for i in range(nocc):
                    _vflush(occ_small[i], occ_g[i], carry)
            h = _galois_steps(s, h, taps, stride)
            # saturating up/down: up = bit & (s != N-1), dn = ~bit & (s != 0), ripple +-1
            _equals_const(st, top, up)
            dn[:] = _ZERO
            for j in range(sbits):
                sj = st[j]
                for g in range(G):
                    dn[g] |= sj[g]
            for g in range(G):
                b = bit[g]
                up[g] = b & ~up[g]
                dn[g] = ~b & dn[g]
            for j in range(sbits):
                sj = st[j]
                for g in range(G):
                    old = sj[g]
                    sj[g] = old ^ (up[g] | dn[g])
                    up[g] &= old
                    dn[g] &= ~old
        for j in range(width):
            lfsr[j, c0:c0 + G] = s[(h + j) % width]
        for j in range(wwidth):
            wlfsr[j, c0:c0 + G] = ws[(wh + j) % wwidth]
        state[:, c0:c0 + G] = st
        counts[:, c0:c0 + G] = cnt
        occ[:, :, c0:c0 + G] = occ_g


#: width of the small per-cycle vertical counters; they are flushed into the wide counters every
#: SMALL_MAX cycles, so the per-cycle increment is a fixed 4-plane ripple (vectorizes) instead of
#: an 11..32-plane one (an early exit never triggers: some of 4096 lanes always carry)
SMALL_BITS = 4
SMALL_MAX = (1 << SMALL_BITS) - 1


@njit(cache=True)
def _vinc(small, inc):
    """Small vertical counter (SMALL_BITS x G) += lanes of ``inc`` (no overflow by contract)."""
    G = inc.shape[0]
    s0 = small[0]
    s1 = small[1]
    s2 = small[2]
    s3 = small[3]
    for g in range(G):
        c = inc[g]
        o = s0[g]
        s0[g] = o ^ c
        c &= o
        o = s1[g]
        s1[g] = o ^ c
        c &= o
        o = s2[g]
        s2[g] = o ^ c
        c &= o
        s3[g] ^= c


@njit(cache=True)
def _vflush(small, wide, carry):
    """``wide += small`` (ripple-carry adder over bit planes), then ``small = 0``."""
    G = carry.shape[0]
    carry[:] = _ZERO
    for j in range(wide.shape[0]):
        wj = wide[j]
        if j < small.shape[0]:
            aj = small[j]
            for g in range(G):
                w = wj[g]
                a = aj[g]
                c = carry[g]
                wj[g] = w ^ a ^ c
                carry[g] = (w & a) | (c & (w ^ a))
        else:
            for g in range(G):
                w = wj[g]
                wj[g] = w ^ carry[g]
                carry[g] &= w
    small[:] = _ZERO


@njit(cache=True)
def _equals_const(planes, const, out):
    """``out`` = lanes whose bit-sliced value (planes: bits x G) equals the constant."""
    G = out.shape[0]
    out[:] = _ONES
    for j in range(planes.shape[0]):
        pj = planes[j]
        if (const >> j) & 1:
            for g in range(G):
                out[g] &= pj[g]
        else:
            for g in range(G):
                out[g] &= ~pj[g]


@njit(cache=True)
def _galois_steps(planes, h, taps, steps):
    """``steps`` Galois steps of bit-sliced LFSRs stored in a rotating buffer; returns new h.

    Trinomial (1 low tap) and pentanomial (3 low taps) masks get one fused pass per step."""
    width, G = planes.shape
    ntaps = taps.shape[0]
    for _ in range(steps):
        lsb = planes[h]
        h += 1
        if h == width:
            h = 0
        if ntaps == 3:
            d0 = planes[(h + taps[0]) % width]
            d1 = planes[(h + taps[1]) % width]
            d2 = planes[(h + taps[2]) % width]
            for g in range(G):
                v = lsb[g]
                d0[g] ^= v
                d1[g] ^= v
                d2[g] ^= v
        elif ntaps == 1:
            d0 = planes[(h + taps[0]) % width]
            for g in range(G):
                d0[g] ^= lsb[g]
        else:
            for k in range(ntaps):
                dst = planes[(h + taps[k]) % width]
                for g in range(G):
                    dst[g] ^= lsb[g]
    return h


# ----------------------------------------------------------------------------- bit slicing
@njit(cache=True)
def bit_slice(values, out):
    """``out[j, w]`` bit k = bit j of ``values[64 w + k]`` (lanes past the end are 0)."""
    bits, nwords = out.shape
    count = values.shape[0]
    for w in range(nwords):
        lanes = min(64, count - w * 64)
        for j in range(bits):
            acc = _ZERO
            for k in range(max(lanes, 0)):
                acc |= ((np.uint64(values[w * 64 + k]) >> np.uint64(j)) & np.uint64(1)) \
                    << np.uint64(k)
            out[j, w] = acc


@njit(cache=True)
def bit_unslice(planes, out):
    """Inverse of :func:`bit_slice`: ``out[i]`` = sum_j bit (i % 64) of planes[j, i // 64] << j."""
    bits = planes.shape[0]
    count = out.shape[0]
    for i in range(count):
        w = i // 64
        k = np.uint64(i % 64)
        v = np.int64(0)
        for j in range(bits):
            v |= np.int64((planes[j, w] >> k) & np.uint64(1)) << j
        out[i] = v


__all__ = ["LANE_WORDS", "bit_slice", "bit_unslice", "fsm_sliced_lfsr", "fsm_streams",
           "fsm_streams_out", "gather_taps", "lane_words", "lfsr_fill", "lfsr_state_sequence", "updown_streams"]
