"""The 32-bit WFSM bank kernel (``fsm_kernels.wfsm_bank``) against the 64-bit kernel it replaced
(``packed_kernels.apc_wfsm``, kept as its oracle), bit for bit, on random banks: dense and sparse
(one-hot, gated) XNOR operand words in several banks, per-element bit terms, shared per-cycle
terms, 1 / 2 / 4 / 8 / 10 state-mask words, L not a multiple of 32 or 64, the APC sum wanted or not;
the bit-matrix transpose of ``to_element_packed`` and the per-comparator SNG tables of
``sng_streams`` against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from sccompiler.runtime.fsm_kernels import mask_words, rows_last32, wfsm_bank, wfsm_masks32, words32
from sccompiler.runtime.packed import constant_operands, constant_terms
from sccompiler.runtime.packed_kernels import (
    apc_wfsm,
    column_sums,
    rows_last,
    sng_direct,
    sng_streams,
    to_element_packed,
    wfsm_masks,
)

ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


def _pack(bits: np.ndarray) -> np.ndarray:
    """bool (..., n) -> (..., ceil(n / 64)) uint64, bit i % 64 of word i // 64."""
    n = bits.shape[-1]
    pad = np.zeros(bits.shape[:-1] + (-(-n // 64) * 64,), dtype=bool)
    pad[..., :n] = bits
    return np.packbits(pad, axis=-1, bitorder="little").view("<u8").astype(np.uint64)


def _bank(rng, B, L, R, N, sizes, density, K, shared_dense, gated):
    """Random inputs of one bank in the old kernel's form, and the same in the new one's."""
    groups = []
    for M, p in zip(sizes, density):
        w = rng.choice([-1, 0, 1], size=(R, M), p=[0.35, 0.3, 0.35])
        x = rng.random((B, L, M)) < p
        on_v = rng.random((B, M)) < (0.5 if gated else 1.1)
        groups.append((w, x, on_v))
    jp = np.concatenate([np.zeros((B, L, 0), dtype=np.uint64)] + [_pack(x) for _, x, _ in groups], axis=2)
    on = np.concatenate([np.zeros((B, 0), dtype=np.uint64)] + [_pack(o) for _, _, o in groups], axis=1)
    Mw = [(-(-w.shape[1] // 64)) for w, _, _ in groups]
    P = np.zeros((sum(Mw), R), dtype=np.uint64)
    Nm = np.zeros((sum(Mw), R), dtype=np.uint64)
    wcol = np.zeros((sum(Mw) * 64, R), dtype=np.int32)
    base = rng.integers(-20, 20, (B, R)).astype(np.int64)
    w0 = 0
    for (w, _, on_v), mw in zip(groups, Mw):
        for j in range(w.shape[1]):
            bit = np.uint64(1) << np.uint64(j % 64)
            P[w0 + j // 64, w[:, j] > 0] |= bit
            Nm[w0 + j // 64, w[:, j] < 0] |= bit
        wcol[w0 * 64:w0 * 64 + w.shape[1]] = 2 * w.T
        base -= (on_v.astype(np.int64) @ w.T)
        w0 += mw
    bits = rng.integers(0, 2 ** 63, (B, K, R, -(-L // 64)), dtype=np.uint64)
    if L % 64:
        bits[..., -1] &= (np.uint64(1) << np.uint64(L % 64)) - np.uint64(1)
    base -= K
    dense = rng.integers(-3, 4, (1 if shared_dense else B, L, R)).astype(np.int32)
    rw = rng.integers(0, 255, (R, L)).astype(np.uint64)
    G = 3
    wq = rng.integers(0, 257, (G, N)).astype(np.uint64)
    group = rng.integers(0, G, R).astype(np.int64)
    state = rng.integers(0, N, (B, R)).astype(np.int64)
    return groups, jp, on, P, Nm, wcol, bits, base, dense, rw, wq, group, state, Mw


CASES = [  # B, L, R, N, operand sizes, densities, K bit terms, shared dense, gated
    (9, 100, 40, 16, (65, 128), (0.02, 0.5), 0, True, True),
    (8, 256, 512, 128, (65, 128), (0.0, 0.5), 0, True, True),
    (5, 64, 24, 48, (), (), 3, False, False),
    (17, 70, 33, 100, (200,), (0.5,), 2, True, False),
    (3, 33, 20, 200, (64, 30, 90), (0.5, 0.05, 0.3), 1, False, True),
    (1, 1, 5, 2, (10,), (0.9,), 0, True, False),
    (4, 100, 48, 256, (65, 128), (0.3, 0.02), 0, True, True),
    (3, 40, 20, 300, (), (), 1, True, False),
    # the direct step (4 dense operand words only, a shared per-cycle row; 128 and 256 states)
    (8, 256, 512, 128, (128,), (0.5,), 0, True, False),
    (6, 100, 64, 256, (100,), (0.5,), 0, True, True),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("want", [False, True])
def test_wfsm_bank_matches_the_64_bit_kernel(case, want):
    B, L, R, N, sizes, density, K, shared_dense, gated = case
    rng = np.random.default_rng(hash((case, want)) % 2 ** 32)
    groups, jp, on, P, Nm, wcol, bits, base, dense, rw, wq, group, state, Mw = \
        _bank(rng, B, L, R, N, sizes, density, K, shared_dense, gated)
    W = -(-L // 64)
    # the old kernel
    masks = np.empty((L, -(-N // 64), R), dtype=np.uint64)
    wfsm_masks(rw, wq, group, masks)
    bt = rows_last(bits) if K else np.zeros((0, 0, 0, R), dtype=np.uint64)
    s1, y1 = state.copy(), np.empty((B, R, W), dtype=np.uint64)
    d1 = np.empty((B if want else 0, R), dtype=np.int64)
    apc_wfsm(jp, on, P, Nm, wcol, bt, base.astype(np.int32), dense, masks, N, s1, y1, d1)
    # the new one: the first group dense, the others through the sparse path
    Z = np.concatenate([words32(P | Nm), np.zeros((1, R), dtype=np.uint32)])
    N32 = np.concatenate([words32(Nm), np.zeros((1, R), dtype=np.uint32)])
    npc = (2 * np.bitwise_count(N32[:-1])).astype(np.int32)
    ndense = 2 * Mw[0] if Mw else 0
    base2 = base - npc[:ndense].sum(axis=0, dtype=np.int64)[None, :]
    m32 = np.empty((L, mask_words(N), R), dtype=np.uint32)
    wfsm_masks32(rw, wq, group, m32)
    bt32 = rows_last32(bits) if K else np.zeros((0, 0, 0, R), dtype=np.uint32)
    s2, y2 = state.copy(), np.zeros((B, R, W), dtype=np.uint64)
    d2 = np.empty((B if want else 0, R), dtype=np.int64)
    jp32, on32 = np.ascontiguousarray(jp).view(np.uint32), np.ascontiguousarray(on).view(np.uint32)
    parts = [np.ascontiguousarray(a) for a in (jp32[:, :, :ndense], on32[:, :ndense], jp32[:, :, ndense:],
                                               on32[:, ndense:])]
    wfsm_bank(*parts, Z, N32, wcol, npc, bt32, base2.astype(np.int32), dense, m32, N, s2, y2.view(np.uint32), d2)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(d1, d2)
    # and an exact oracle of the FSM itself on a few rows
    d = base[:, None, :].repeat(L, axis=1).astype(np.int64) + dense
    for w, x, on_v in groups:
        d += 2 * np.einsum("btm,rm->btr", (x & on_v[:, None, :]).astype(np.int64), w)
    cyc = np.unpackbits(bits.view(np.uint8), axis=-1, bitorder="little")[..., :L].astype(np.int64)
    d += 2 * cyc.sum(axis=1).transpose(0, 2, 1)
    s = state.copy()
    ybits = np.unpackbits(y2.view(np.uint8), axis=-1, bitorder="little")[..., :L]
    for t in range(L):
        thr = wq[group[None, :], s]                                     # (B, R)
        np.testing.assert_array_equal(ybits[:, :, t], (rw[:, t][None, :] < thr).astype(np.uint8))
        s = np.clip(s + d[:, t], 0, N - 1)
    np.testing.assert_array_equal(s, s2)
    if want:
        np.testing.assert_array_equal(d2, d.sum(axis=1))


@pytest.mark.parametrize("shape", [(3, 2, 65, 100), (2, 1, 128, 256), (1, 3, 7, 64), (2, 1, 200, 130)])
def test_element_packing_is_the_transpose(shape):
    B, Q, M, L = shape
    bits = np.random.default_rng(M + L).integers(0, 2, shape).astype(bool)
    out = np.full((B, Q, L, -(-M // 64)), ALL, dtype=np.uint64)
    to_element_packed(np.ascontiguousarray(_pack(bits)), out)
    np.testing.assert_array_equal(out, _pack(np.swapaxes(bits, 2, 3)))


@pytest.mark.parametrize("B,S,L,bits", [(64, 7, 256, 8), (5, 3, 100, 4), (70, 2, 1024, 8), (1, 1, 1, 2)])
def test_sng_streams_match_the_direct_comparison(B, S, L, bits):
    rng = np.random.default_rng(B * S + L)
    levels = (1 << bits) + 1
    rand = rng.integers(0, levels - 1, (S, L)).astype(np.uint64)
    thr = rng.integers(0, levels, (B, S)).astype(np.int64)
    W = -(-L // 64)
    got, want = np.empty((B, S, W), dtype=np.uint64), np.empty((B, S, W), dtype=np.uint64)
    sng_streams(rand, levels, thr, got)
    sng_direct(rand, thr.astype(np.uint64), want)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, _pack(rand[None, :, :] < thr[:, :, None]))


@pytest.mark.parametrize("gated", [False, True])
def test_constant_operands_fold_into_the_base(gated):
    """Operand words constant over the cycles (a gated one-hot input) folded into the base
    (packed.constant_terms) give the kernel's own result on them, bit for bit."""
    B, L, R, N = 7, 90, 48, 128
    rng = np.random.default_rng(11 + gated)
    groups, jp, on, P, Nm, wcol, bits, base, dense, rw, wq, group, state, Mw = \
        _bank(rng, B, L, R, N, (65, 128), (0.05, 0.5), 0, True, gated)
    jp[:, :, :2] = jp[:, :1, :2]                                   # the 65 operands: constant in time
    jp32, on32 = np.ascontiguousarray(jp).view(np.uint32), np.ascontiguousarray(on).view(np.uint32)
    assert constant_operands(np.ascontiguousarray(jp32[:, :, :4]), np.ascontiguousarray(on32[:, :4]))
    assert not constant_operands(np.ascontiguousarray(jp32[:, :, 4:]), np.ascontiguousarray(on32[:, 4:]))
    Z = np.concatenate([words32(P | Nm), np.zeros((1, R), dtype=np.uint32)])
    N32 = np.concatenate([words32(Nm), np.zeros((1, R), dtype=np.uint32)])
    npc = (2 * np.bitwise_count(N32[:-1])).astype(np.int32)
    m32 = np.empty((L, mask_words(N), R), dtype=np.uint32)
    wfsm_masks32(rw, wq, group, m32)
    none = np.zeros((0, 0, 0, R), dtype=np.uint32)
    W = -(-L // 64)

    def run(jd, od, js, os_, Zs, Ns, wc, nc, b):
        s, y = state.copy(), np.zeros((B, R, W), dtype=np.uint64)
        wfsm_bank(*(np.ascontiguousarray(a) for a in (jd, od, js, os_)), Zs, Ns, wc, nc, none, b.astype(np.int32),
                  dense, m32, N, s, y.view(np.uint32), np.empty((0, R), dtype=np.int64))
        return s, y

    # all in the kernel: the 128 operands dense (words 4..7), the 65 sparse (words 0..3 after them)
    order = [4, 5, 6, 7, 0, 1, 2, 3]
    b1 = base - npc[4:8].sum(axis=0, dtype=np.int64)[None, :]
    wc = np.concatenate([wcol[128:], wcol[:128]])
    s1, y1 = run(jp32[:, :, 4:], on32[:, 4:], jp32[:, :, :4], on32[:, :4], Z[order + [8]], N32[order + [8]], wc,
                 npc[order], b1)
    # folded: only the 128 dense operands reach the kernel
    b2 = b1 + constant_terms(jp32[:, 0, :4], on32[:, :4], wcol[:128])
    s2, y2 = run(jp32[:, :, 4:], on32[:, 4:], jp32[:, :, :0], on32[:, :0], Z[[4, 5, 6, 7, 8]], N32[[4, 5, 6, 7, 8]],
                 np.ascontiguousarray(wcol[128:]), npc[4:8], b2)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(y1, y2)


def test_column_sums_are_the_integer_matrix_product():
    """packed_kernels.column_sums: the weight columns of the ones of each element's operand words
    added up, equal to the 0/1 matrix product (sparse and dense words, zero words, bit 31)."""
    rng = np.random.default_rng(5)
    B, Mw, R = 9, 3, 37
    words = rng.integers(0, 1 << 32, (B, Mw), dtype=np.uint64).astype(np.uint32)
    words[0] = 0
    words[1] = [1, 1 << 31, 0]
    wcol = rng.integers(-2, 3, (Mw * 32, R)).astype(np.int32)
    out = np.empty((B, R), dtype=np.int64)
    column_sums(words, wcol, out)
    bits = np.unpackbits(words.astype("<u4").view(np.uint8), axis=-1, bitorder="little").astype(np.int64)
    np.testing.assert_array_equal(out, bits @ wcol.astype(np.int64))
    assert not out[0].any() and np.array_equal(out[1], wcol[0] + wcol[63])
