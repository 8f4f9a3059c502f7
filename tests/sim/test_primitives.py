"""Primitive algebra on long ideal streams (binomial tolerances, fixed seeds), expectation mode,
encodings, packing, seeds/SCC — with hypothesis properties at the 0 and +-1 edges."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sccompiler.errors import SCValueError, SimulationError
from sccompiler.sim import primitives as P
from sccompiler.sim.encoding import lfsr_threshold_probability, quantize_weights, threshold, threshold_probability
from sccompiler.sim.packed import ints_to_planes, pack_bits, packed_gate, planes_to_ints, unpack_bits
from sccompiler.sim.seeds import SourceAllocator, advance_lfsr, check_uncorrelated, scc, spread_phases
from sccompiler.sim.sources import SourceSpec, lfsr_states

L = 1 << 16
K = 5.0                       # tolerance multiplier on the binomial standard deviation
prob = st.floats(0.0, 1.0, allow_nan=False)


def ideal_stream(p: float, seed: int, bits: int = 16) -> np.ndarray:
    r = SourceSpec("ideal", 32, seed).sequence(L, bits=bits)
    return P.sng(r, threshold(p, bits))


def tol(p: float) -> float:
    return K * np.sqrt(p * (1 - p) / L) + 2.0 ** -16


@given(pa=prob, pb=prob, ps=prob)
def test_gate_algebra_on_ideal_streams(pa, pb, ps):
    a, b, s = ideal_stream(pa, 1), ideal_stream(pb, 2), ideal_stream(ps, 3)
    for got, want in [(P.and_(a, b), P.p_and(pa, pb)), (P.or_(a, b), P.p_or(pa, pb)),
                      (P.xnor_(a, b), P.p_xnor(pa, pb)), (P.xor_(a, b), P.p_xor(pa, pb)),
                      (P.mux(s, a, b), P.p_mux(ps, pa, pb)), (P.not_(a), P.p_not(pa))]:
        assert abs(got.mean() - want) <= tol(want)


@given(x=st.floats(-1, 1), y=st.floats(-1, 1))
def test_xnor_multiplies_bipolar(x, y):
    a = ideal_stream((x + 1) / 2, 11)
    b = ideal_stream((y + 1) / 2, 12)
    p = (x * y + 1) / 2
    assert abs(P.xnor_(a, b).mean() - p) <= tol(p)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_edges_are_exact(p):
    """Probabilities 0 and 1 give constant streams for every source kind (X = 0 or 2^n)."""
    for kind in ("ideal", "sobol", "lfsr"):
        r = SourceSpec(kind, 16, 9).sequence(4096, bits=16)
        bits = P.sng(r, threshold(p, 16))
        assert bits.all() if p == 1.0 else not bits.any()


def test_lfsr_threshold_probability_is_exact_over_a_period():
    width, bits = 10, 6
    r = lfsr_states(width, 3, (1 << width) - 1, stride=1) & np.uint64((1 << bits) - 1)
    for x in (0, 1, 17, 63, 64):
        assert np.isclose((r < x).mean(), lfsr_threshold_probability(x, bits, width))
    assert threshold_probability(32, 6) == 0.5


def test_apc_and_counters():
    rng = np.random.default_rng(0)
    bits = rng.random((3, 1000)) < [[0.2], [0.5], [0.9]]
    k = P.apc(*bits)
    assert k.min() >= 0 and k.max() <= 3
    np.testing.assert_array_equal(P.bipolar_apc(*bits), 2 * k - 3)
    assert P.up_counter(bits[0]) == bits[0].sum()
    assert [P.counter_width(n) for n in (1000, 1023, 1024)] == [10, 10, 11]
    traj = P.updown_counter(P.bits_to_steps(bits[1]), reset=0, lo=-3, hi=4)
    assert traj.min() >= -3 and traj.max() <= 4
    pmf = P.apc_distribution(np.array([0.2, 0.5, 0.9]))
    emp = np.bincount(k, minlength=4) / 1000
    assert np.all(np.abs(emp - pmf) <= 5 * np.sqrt(pmf * (1 - pmf) / 1000) + 1e-3)


@given(p=prob, n=st.integers(2, 40))
def test_steady_state_is_a_distribution_with_geometric_ratio(p, n):
    pi = P.linear_fsm_steady_state(p, n)
    assert np.isclose(pi.sum(), 1.0) and np.all(pi >= 0)
    if 0.01 < p < 0.99:
        t = p / (1 - p)
        np.testing.assert_allclose(pi[1:] / pi[:-1], t, rtol=1e-9)
    if p == 0.0:
        assert pi[0] == 1.0
    if p == 1.0:
        assert pi[-1] == 1.0


def test_steady_state_uniform_at_half():
    np.testing.assert_allclose(P.linear_fsm_steady_state(0.5, 6), np.full(6, 1 / 6))


def test_fsm_states_output_before_update():
    steps = P.bits_to_steps(np.array([1, 1, 1, 0, 0, 0, 0, 0], dtype=bool))
    s = P.fsm_states(steps, 4)              # reset 2
    np.testing.assert_array_equal(s, [2, 3, 3, 3, 2, 1, 0, 0])
    np.testing.assert_array_equal(P.stanh_output(s, 4), s >= 2)
    y = P.weighted_output(s, np.array([0, 1, 2, 4]), np.full(8, 1))
    np.testing.assert_array_equal(y, [True, True, True, True, True, False, False, False])


@given(v=st.floats(-1, 1))
def test_threshold_rounding_and_range(v):
    x = int(threshold(v, 8, "bipolar"))
    assert 0 <= x <= 256
    assert abs(x / 256 - (v + 1) / 2) <= 0.5 / 256


@pytest.mark.parametrize("value,enc", [(1.01, "unipolar"), (-0.01, "unipolar"), (-1.5, "bipolar"),
                                       (float("nan"), "bipolar"), (0.5, "signed")])
def test_encoding_errors(value, enc):
    with pytest.raises(SCValueError):
        threshold(value, 8, enc)


def test_quantize_weights_exact_ends():
    np.testing.assert_array_equal(quantize_weights([0.0, 0.5, 1.0], 4), [0, 8, 16])
    with pytest.raises(SCValueError, match="weights"):
        quantize_weights([1.2], 4)


@given(bits=st.lists(st.booleans(), min_size=1, max_size=300))
def test_pack_roundtrip(bits):
    arr = np.array(bits)
    np.testing.assert_array_equal(unpack_bits(pack_bits(arr), len(arr)), arr)


@given(vals=st.lists(st.integers(0, 2**20 - 1), min_size=1, max_size=200))
def test_planes_roundtrip(vals):
    v = np.array(vals)
    np.testing.assert_array_equal(planes_to_ints(ints_to_planes(v, 20, 4), len(v)), v)


@given(seed=st.integers(0, 1000))
def test_packed_gates_match_unpacked(seed):
    rng = np.random.default_rng(seed)
    a, b, s = (rng.random((5, 130)) < 0.5 for _ in range(3))
    pa, pb, ps = pack_bits(a), pack_bits(b), pack_bits(s)
    for op, want in [("and", a & b), ("or", a | b), ("xor", a ^ b), ("xnor", ~(a ^ b)),
                     ("not", ~a), ("mux", np.where(s, a, b))]:
        got = packed_gate(op, pa, None if op == "not" else pb, ps if op == "mux" else None)
        np.testing.assert_array_equal(unpack_bits(got, 130), want, err_msg=op)


def test_packed_gate_errors():
    w = np.zeros((2, 3), dtype=np.uint64)
    with pytest.raises(SCValueError, match="op"):
        packed_gate("nand", w, w)
    with pytest.raises(SCValueError, match="b"):
        packed_gate("and", w, np.zeros((2, 4), dtype=np.uint64))
    with pytest.raises(SCValueError, match="sel"):
        packed_gate("mux", w, w)


def test_scc_values():
    rng = np.random.default_rng(1)
    a = rng.random(L) < 0.4
    b = rng.random(L) < 0.7
    assert abs(scc(a, b)) < 0.03
    assert np.isclose(scc(a, a), 1.0)
    assert np.isclose(scc(a, ~a), -1.0)
    r = rng.random(L)
    assert np.isclose(scc(r < 0.3, r < 0.6), 1.0)        # shared source: maximal correlation
    with pytest.raises(SimulationError):
        check_uncorrelated({"a": r < 0.3, "b": r < 0.6})
    check_uncorrelated({"a": a, "b": b})


def test_allocator_independent_phases_and_errors():
    alloc = SourceAllocator(width=24, length=1024, max_sources=64)
    specs = [alloc.allocate(f"s{i}") for i in range(64)]
    assert len({s.seed for s in specs}) == 64 and alloc.windows_disjoint
    for k in (0, 1, 37, 63):                     # source k sits k * spacing steps from source 0
        assert specs[k].seed == int(advance_lfsr(specs[0].seed, 24, k * alloc.spacing))
    assert alloc.get("s3") is specs[3] or alloc.get("s3") == specs[3]
    with pytest.raises(SCValueError, match="max_sources"):
        alloc.allocate("one_too_many")
    with pytest.raises(SCValueError, match="name"):
        alloc.allocate("s0")
    with pytest.raises(SCValueError, match="max_sources"):
        SourceAllocator(width=8, max_sources=100)
    # pairwise SCC of streams from allocated sources stays within noise
    r = [s.sequence(8192, bits=16) for s in specs[:6]]
    bits = [x < 30000 for x in r]
    for i in range(6):
        for j in range(i + 1, 6):
            assert abs(scc(bits[i], bits[j])) < 0.1


def test_spread_phases_disjoint():
    seeds = spread_phases(np.array([1, 77], dtype=np.uint64), 12, 3)
    assert seeds.shape == (2, 3) and len(set(seeds.ravel().tolist())) == 6
    with pytest.raises(SCValueError, match="width"):
        spread_phases(np.array([1], dtype=np.uint64), 3, 10)


@given(n=st.integers(2, 40), bits=st.integers(1, 10), seed=st.integers(0, 10_000))
def test_weight_rom_program_evaluates_the_table(n, bits, seed):
    """The mux-tree ROM returns Wq[s] for every reachable state (others are don't-care)."""
    wq = np.random.default_rng(seed).integers(0, (1 << bits) + 1, n)
    sbits = max(1, (n - 1).bit_length())
    prog, outs, nregs = P.weight_rom_program(wq, bits, sbits)
    assert prog.shape[0] + 2 + 2 * sbits == nregs
    for s in range(n):
        reg = [0, 1] + [v for k in range(sbits) for v in ((s >> k) & 1, 1 - ((s >> k) & 1))]
        reg += [0] * prog.shape[0]
        for dst, k, a, b in prog:
            reg[dst] = reg[a] if (s >> k) & 1 else reg[b]
        assert sum(reg[o] << j for j, o in enumerate(outs)) == wq[s]


def _gf2_rank(vectors: list[int]) -> int:
    rank, rows = 0, list(vectors)
    while rows:
        pivot = rows.pop()
        if pivot:
            rank += 1
            low = pivot & -pivot
            rows = [r ^ pivot if r & low else r for r in rows]
    return rank


@pytest.mark.parametrize("width,count", [(16, 3), (16, 5), (12, 7), (24, 3), (16, 16)])
def test_phase_maps_are_linearly_independent(width, count):
    """No XOR combination of up to W phase-spaced sources vanishes (s = P/3 on W = 16 did:
    source 3 was source 1 XOR source 2)."""
    from sccompiler.sim.seeds import coprime_spacing
    from sccompiler.sim.sources import matrix_power, step_matrix

    period = (1 << width) - 1
    s = coprime_spacing(period, count)
    assert 0 < s <= period // count and np.gcd(s, period) == 1
    flat = []
    for k in range(count):
        rows = matrix_power(step_matrix(width), k * s)
        flat.append(sum(r << (width * i) for i, r in enumerate(rows)))
    assert _gf2_rank(flat) == count
    seeds = spread_phases(np.array([12345 % period], dtype=np.uint64), width, 3)[0]
    assert int(seeds[2]) != int(seeds[0]) ^ int(seeds[1])
