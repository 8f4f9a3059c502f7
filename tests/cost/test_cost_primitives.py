"""Exact cell counts of the cost-model primitives, checked against hand counts, textbook formulas
and bit-level evaluation of the constructions they count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sccompiler.cost import load_target
from sccompiler.cost import primitives as P
from sccompiler.errors import SCValueError

ASIC = load_target("asic-generic")


def ge(res: P.Resources) -> float:
    return sum(ASIC.cells[c] * n for c, n in res.cells().items())


# ---------------------------------------------------------------- hand counts

@pytest.mark.parametrize("n, cells", [
    (1, {}), (2, {"HA": 1}), (3, {"FA": 1}), (4, {"FA": 1, "HA": 2}), (7, {"FA": 4}),
    (8, {"FA": 4, "HA": 3}), (15, {"FA": 11}),
])
def test_apc_hand_counts(n, cells):
    assert P.apc(n).cells() == cells


@pytest.mark.parametrize("n", [1, 2, 5, 16, 63, 64, 300, 601, 1001])
def test_apc_adders_equal_n_minus_popcount(n):
    # every FA removes one bit and the result has one bit per 1 of n's binary expansion... the classic
    # count of a counter tree: adders (FA + HA) = n - popcount(n), FA = n - ceil(log2(n+1))
    c = P.apc(n).cells()
    assert c.get("FA", 0) + c.get("HA", 0) == n - bin(n).count("1")
    assert c.get("FA", 0) == n - n.bit_length()


def test_ripple_adder_counts():
    assert P.ripple_adder(8).cells() == {"FA": 8}
    assert P.ripple_adder(8, carry_in=False).cells() == {"FA": 7, "HA": 1}
    assert P.integral_adder(2, 3).cells() == {"FA": 2, "HA": 1}


def test_array_multiplier_4x4_textbook():
    # 4x4 array multiplier: 16 AND2 partial products, n(n-2) = 8 FA, n = 4 HA
    assert P.array_multiplier(4).cells() == {"AND2": 16, "FA": 8, "HA": 4}


@pytest.mark.parametrize("n", range(2, 13))
def test_array_multiplier_general_formula(n):
    expected = {"AND2": n * n, "FA": n * (n - 2), "HA": n}
    assert P.array_multiplier(n).cells() == {k: v for k, v in expected.items() if v}


def test_comparator_counts():
    assert P.comparator(1).cells() == {"AND2": 1, "INV": 1}
    assert P.comparator(8).cells() == {"XOR2": 7, "MUX2": 7, "AND2": 1, "INV": 1}
    assert P.comparator(8, constant=True).cells() == {"NAND2": 7, "INV": 1}


def test_comparator_ripple_recursion_is_r_less_than_x():
    # the construction whose cells comparator() counts, evaluated on all 4-bit operand pairs
    n = 4
    for r in range(16):
        for x in range(16):
            lt = (x & 1) & (~r & 1)
            for i in range(1, n):
                ri, xi = (r >> i) & 1, (x >> i) & 1
                lt = xi if ri ^ xi else lt
            assert lt == int(r < x)


def test_counter_counts():
    assert P.counter(9).cells() == {"HA": 9, "DFF_R": 9}
    assert P.counter(10, increment_bits=2).cells() == {"FA": 1, "HA": 9, "DFF_R": 10}
    assert P.counter(6, updown=True).cells() == {"FA": 6, "INV": 1, "DFF_R": 6}


def test_fsm_update_hand_count():
    # N = 16 states, step +-1: w = 4 state bits; the sum covers [-1, 16] -> 6 signed bits;
    # overflow detect = 5-bit constant comparator (4 NAND2 + 1 INV); clamp 4 MUX2 + 4 AND2
    assert P.linear_fsm(16).cells() == {"DFF_R": 4, "FA": 6, "NAND2": 4, "INV": 1, "MUX2": 4, "AND2": 4}
    # integral input of 601 bits, 32 states: sum in [-601, 632] -> 11 bits
    assert P.integer_step_fsm(32, 601).cells()["FA"] == 11


def test_wfsm_is_fsm_plus_table_plus_comparator():
    fsm = P.fsm_update(32, 5).cells()
    w = P.wfsm(32, weight_bits=8, max_step=5).cells()
    extra = {k: w.get(k, 0) - fsm.get(k, 0) for k in w}
    assert extra == {**{k: 0 for k in w}, "ROM_BIT": 32 * 8, "XOR2": 7, "MUX2": 7, "AND2": 1, "INV": 1}
    assert P.wfsm(32, max_step=5, stanh=True).cells() == fsm


def test_adder_tree_hand_counts():
    assert P.adder_tree(4, 8).cells() == {"FA": 2 * 8 + 9}
    assert P.adder_tree(3, 8).cells() == {"FA": 8 + 9}
    assert P.adder_tree(1, 8).cells() == {}
    assert P.tree_levels(601) == 10


def test_sng_with_and_without_source():
    alone = P.sng(8).as_dict()
    assert alone["sng"] == 1 and "rng" not in alone
    own = P.sng(8, lfsr_width=16).as_dict()
    assert own["rng"] == 1 and own["cell:DFF_R"] == 16
    with pytest.raises(SCValueError, match="lfsr_width"):
        P.sng(8, lfsr_width=4)


def test_weight_memory_and_luts():
    m = P.weight_memory(1000, "sram", read_bits_per_cycle=64).as_dict()
    assert m == {"cell:SRAM_BIT": 1000, "fpga:membits:sram": 1000, "mem_read_bits": 64}
    assert P.activation_lut(8).cells() == {"ROM_BIT": 256 * 8}
    assert P.conditional_negate(8).cells() == {"XOR2": 8}
    assert P.ternary_select(8).cells() == {"XOR2": 8, "AND2": 8}
    assert P.sign_threshold(9).cells() == {}


# ---------------------------------------------------------------- bit-level evaluation

def _evaluate_schedule(cols: list[list[np.ndarray]], ops) -> list[np.ndarray]:
    """Run a column_compression_schedule on per-column lists of bit vectors."""
    for op, j in ops:
        if op == "FA":
            a, b, c = cols[j].pop(0), cols[j].pop(0), cols[j].pop(0)
            cols[j].append(a ^ b ^ c)
            cols[j + 1].append((a & b) | (a & c) | (b & c))
        elif op == "HA":
            a, b = cols[j].pop(0), cols[j].pop(0)
            cols[j].append(a ^ b)
            cols[j + 1].append(a & b)
        else:
            a, b = cols[j].pop(0), cols[j].pop(0)
            cols[j].append(a | b)
    assert all(len(c) <= 1 for c in cols), "every output column must end with at most one bit"
    return [c[0] if c else 0 for c in cols]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 8, 13, 31, 64])
def test_apc_schedule_computes_popcount(n):
    rng = np.random.default_rng(n)
    bits = rng.integers(0, 2, size=(n, 500), dtype=np.int64)
    bits[:, 0] = 1  # the all-ones input (maximum count) is always checked
    width = P.unsigned_width(n)
    cols = [[b for b in bits]] + [[] for _ in range(width - 1)]
    out = _evaluate_schedule(cols, P.column_compression_schedule([n], width))
    value = sum(o << j for j, o in enumerate(out))
    np.testing.assert_array_equal(value, bits.sum(axis=0))


@pytest.mark.parametrize("a, b", [(1, 1), (2, 3), (4, 4), (5, 3), (8, 8)])
def test_multiplier_schedule_computes_product(a, b):
    rng = np.random.default_rng(a * 31 + b)
    x = rng.integers(0, 1 << a, size=400)
    y = rng.integers(0, 1 << b, size=400)
    x[0], y[0] = (1 << a) - 1, (1 << b) - 1
    cols: list[list[np.ndarray]] = [[] for _ in range(a + b)]
    for i in range(a):
        for k in range(b):
            cols[i + k].append(((x >> i) & 1) & ((y >> k) & 1))
    heights = [len(c) for c in cols[:-1]]
    out = _evaluate_schedule(cols, P.column_compression_schedule(heights, a + b))
    np.testing.assert_array_equal(sum(o << j for j, o in enumerate(out)), x * y)


# ---------------------------------------------------------------- LFSR XOR network

def test_lfsr_xor_hand_count():
    pytest.importorskip("sccompiler.sim.sources")
    # W = 3, taps 0b110 (step: lsb = s & 1; s >>= 1; if lsb: s ^= taps): one step maps
    # e0->110, e1->001, e2->010, so only bit 1 XORs two inputs (1 XOR2); two steps map
    # e0->011, e1->110, e2->001: bits 0 and 1 each XOR two inputs (2 XOR2)
    assert P.lfsr_xor_count(3, stride=1, taps=0b110) == 1
    assert P.lfsr_xor_count(3, stride=2, taps=0b110) == 2
    assert P.lfsr(3, stride=2, taps=0b110).cells() == {"DFF_R": 3, "XOR2": 2}


@given(st.integers(3, 24).flatmap(lambda w: st.tuples(st.just(w), st.integers(1 << (w - 1), (1 << w) - 1))))
def test_lfsr_single_step_xors_are_taps_minus_one(w_taps):
    pytest.importorskip("sccompiler.sim.sources")
    w, taps = w_taps
    assert P.lfsr_xor_count(w, stride=1, taps=taps) == bin(taps).count("1") - 1


def test_lfsr_counts_the_simulators_leap_matrix():
    sources = pytest.importorskip("sccompiler.sim.sources")
    for w in (3, 8, 16, 32):
        rows = sources.leap_matrix(w, w)
        assert P.lfsr_xor_count(w) == sum(bin(r).count("1") - 1 for r in rows)
        assert P.lfsr_xor_count(w) == P.lfsr_xor_count(w, stride=w, taps=sources.TAPS[w])


def test_lfsr_precomputed_popcount_and_bound(monkeypatch):
    assert P.lfsr_xor_count(16, xor_popcount=16 + 40) == 40
    monkeypatch.setattr(P, "_sources", lambda: None)
    assert P.lfsr_xor_count(16, stride=16) == min(16 * (P.ASSUMED_TAP_COUNT - 1), 16 * 15)
    assert P.lfsr_xor_count(4, stride=16) == 4 * 3
    with pytest.raises(SCValueError, match="xor_popcount"):
        P.lfsr_xor_count(8, xor_popcount=3)


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize("call", [
    lambda: P.apc(0), lambda: P.apc(2.5), lambda: P.apc(True), lambda: P.lfsr(2), lambda: P.lfsr(33),
    lambda: P.lfsr(8, taps=0b0001), lambda: P.fsm_update(1), lambda: P.counter(4, increment_bits=5),
    lambda: P.gate("NAND3"), lambda: P.xnor(1), lambda: P.weight_memory(8, "flash"),
    lambda: P.xnor(domain="analog"), lambda: P.requantize(4, 8), lambda: P.activation_lut(0),
])
def test_bad_parameters_raise_scvalueerror(call):
    with pytest.raises(SCValueError):
        call()


# ---------------------------------------------------------------- monotonicity

@given(st.integers(1, 2000))
def test_apc_monotone(n):
    assert ge(P.apc(n + 1)) >= ge(P.apc(n))


@given(st.integers(1, 16), st.integers(1, 16))
def test_multiplier_monotone(a, b):
    assert ge(P.array_multiplier(a + 1, b)) >= ge(P.array_multiplier(a, b))
    assert ge(P.array_multiplier(a, b + 1)) >= ge(P.array_multiplier(a, b))


@given(st.integers(1, 500), st.integers(1, 24))
def test_adder_tree_monotone(terms, width):
    base = ge(P.adder_tree(terms, width))
    assert ge(P.adder_tree(terms + 1, width)) >= base
    assert ge(P.adder_tree(terms, width + 1)) >= base


@given(st.integers(1, 31), st.integers(2, 300), st.integers(1, 700), st.integers(1, 12))
def test_comparator_counter_fsm_monotone(width, states, step, bits):
    assert ge(P.comparator(width + 1)) >= ge(P.comparator(width))
    assert ge(P.counter(width + 1)) >= ge(P.counter(width))
    assert ge(P.fsm_update(states + 1, step)) >= ge(P.fsm_update(states, step))
    assert ge(P.fsm_update(states, step + 1)) >= ge(P.fsm_update(states, step))
    assert ge(P.wfsm(states, bits + 1, step)) >= ge(P.wfsm(states, bits, step))


@given(st.integers(3, 31), st.integers(1, 64))
def test_lfsr_bound_monotone(width, stride):
    orig = P._sources
    P._sources = lambda: None  # the bound path (no simulator tap table)
    try:
        assert ge(P.lfsr(width + 1, stride)) >= ge(P.lfsr(width, stride))
        assert ge(P.lfsr(width, stride + 1)) >= ge(P.lfsr(width, stride))
    finally:
        P._sources = orig
