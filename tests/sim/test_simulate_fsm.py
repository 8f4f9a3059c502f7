"""simulate_fsm: bit-exact against the naive per-cycle reference, statistics against the closed
form steady state, and the Stanh error table of the brief."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sccompiler.errors import SCValueError
from sccompiler.sim import simulate_fsm
from sccompiler.sim.encoding import quantize_weights, threshold
from sccompiler.sim.fsm import sobol_offsets, stream_seeds, weight_source_width
from sccompiler.sim.primitives import (
    apc_step_pmf,
    fsm_output_probability,
    integer_fsm_steady_state,
    linear_fsm_steady_state,
    stanh_bipolar,
)

from .naive import NaiveLfsrSource, NaiveVdcSource, naive_fsm


def _naive_batch(x, *, states, weights, weight_bits, length, source, width, seed, reset):
    x2 = np.asarray(x, dtype=float).reshape(len(x), -1)
    batch, operands = x2.shape
    wq = None if weights is None else [int(v) for v in quantize_weights(weights, weight_bits)]
    in_seeds, w_seeds = stream_seeds(seed, batch, operands, width, weight_bits, wq is not None)
    offsets = sobol_offsets(seed, batch, operands, width) if source == "sobol" else None
    ones, visits = [], []
    for b in range(batch):
        if source == "lfsr":
            srcs = [NaiveLfsrSource(width, int(in_seeds[b, m])) for m in range(operands)]
        else:
            srcs = [NaiveVdcSource(width, int(offsets[b, m])) for m in range(operands)]
        wsrc = (NaiveLfsrSource(weight_source_width(weight_bits), int(w_seeds[b]))
                if wq is not None else None)
        xs = [int(threshold(v, width, "bipolar")) for v in x2[b]]
        o, v = naive_fsm(xs, srcs, width, states, length, reset, wq, wsrc, weight_bits)
        ones.append(o)
        visits.append(v)
    return np.array(ones), np.array(visits)


@pytest.mark.parametrize("case", [
    dict(batch=70, states=8, weights=None, width=8, length=200),          # Stanh, 2 words
    dict(batch=5, states=6, weights="rand", width=5, length=150),         # weighted, N not 2^k
    dict(batch=130, states=16, weights="rand", width=16, length=90),      # 3 words, weighted
    dict(batch=3, states=2, weights=None, width=3, length=64),            # smallest FSM/LFSR
])
def test_binary_lfsr_bit_exact(case):
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, case["batch"])
    x[:2] = [-1.0, 1.0]
    weights = rng.uniform(0, 1, case["states"]) if case["weights"] == "rand" else None
    kw = dict(states=case["states"], weights=weights, weight_bits=6, length=case["length"],
              source="lfsr", width=case["width"], seed=11)
    p, occ = simulate_fsm(x, return_occupancy=True, **kw)
    ones, visits = _naive_batch(x, reset=case["states"] // 2, **kw)
    np.testing.assert_array_equal(np.rint(p * case["length"]).astype(int), ones)
    np.testing.assert_array_equal(occ, visits)


@pytest.mark.parametrize("source,operands,weighted", [
    ("lfsr", 2, False), ("lfsr", 3, True), ("sobol", 1, False), ("sobol", 2, True),
    ("lfsr", 1, True)])
def test_stream_path_bit_exact(source, operands, weighted):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (9, operands))      # (B, 1) runs the integral path with M = 1
    weights = rng.uniform(0, 1, 6) if weighted else None
    kw = dict(states=6, weights=weights, weight_bits=5, length=120, source=source, width=7,
              seed=5, reset=1)
    p, occ = simulate_fsm(x, return_occupancy=True, reset_state=1,
                          **{k: v for k, v in kw.items() if k != "reset"})
    ones, visits = _naive_batch(x, **kw)
    np.testing.assert_array_equal(np.rint(p * 120).astype(int), ones)
    np.testing.assert_array_equal(occ, visits)


@settings(max_examples=25)
@given(batch=st.integers(1, 200), half=st.integers(1, 12), length=st.integers(1, 300),
       seed=st.integers(0, 2**31), width=st.integers(3, 32), edge=st.sampled_from([-1.0, 0.0, 1.0]))
def test_stanh_counts_equal_upper_half_occupancy(batch, half, length, seed, width, edge):
    """Stanh outputs 1 exactly in the cycles spent in states >= N/2; occupancy sums to L."""
    x = np.random.default_rng(seed).uniform(-1, 1, batch)
    x[0] = edge
    n = 2 * half
    p, occ = simulate_fsm(x, states=n, length=length, seed=seed, width=width,
                          return_occupancy=True)
    assert np.all(occ.sum(axis=1) == length)
    np.testing.assert_array_equal(np.rint(p * length), occ[:, half:].sum(axis=1))


def test_sliced_and_stream_paths_agree():
    """(B,) and (B, 1) inputs define the same circuit; the two kernels must agree bit for bit."""
    x = np.linspace(-0.95, 0.95, 200)
    w = np.linspace(0, 1, 10)
    a = simulate_fsm(x, states=10, weights=w, length=300, width=12, seed=2,
                     return_occupancy=True)
    b = simulate_fsm(x[:, None], states=10, weights=w, length=300, width=12, seed=2,
                     return_occupancy=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("source", ["ideal", "lfsr"])
def test_linear_fsm_steady_state(source):
    """Occupancy after a burn-in follows pi_i ∝ t^i (ideal RNG and leap-forward LFSR)."""
    n, length = 8, 40000
    x = np.array([-0.5, -0.2, 0.0, 0.3, 0.6])
    _, occ = simulate_fsm(x, states=n, length=length, source=source, width=16, seed=3,
                          return_occupancy=True)
    freq = occ / length
    pi = linear_fsm_steady_state((x + 1) / 2, n)
    # visits are autocorrelated: allow a generous k * sqrt(pi(1-pi)/L) band (k = 12 covers the
    # mixing-time inflation of an 8-state chain) plus the reset transient N/L
    tol = 12 * np.sqrt(pi * (1 - pi) / length) + n / length
    assert np.all(np.abs(freq - pi) <= tol), np.abs(freq - pi) / tol


def test_markov_chain_solver_matches_closed_form():
    p = np.array([0.1, 0.45, 0.5, 0.8])
    for pb in p:
        pi = integer_fsm_steady_state([1 - pb, 0.0, pb], 7, -1)
        np.testing.assert_allclose(pi, linear_fsm_steady_state(pb, 7), atol=1e-12)


def test_weighted_output_matches_sum_w_pi():
    n, length = 6, 50000
    w = np.array([0.0, 0.1, 0.3, 0.6, 0.9, 1.0])
    x = np.array([-0.4, 0.0, 0.25])
    p = simulate_fsm(x, states=n, weights=w, weight_bits=10, length=length, source="ideal",
                     seed=9)
    expected = fsm_output_probability(linear_fsm_steady_state((x + 1) / 2, n), w)
    tol = 10 * np.sqrt(expected * (1 - expected) / length) + n / length
    assert np.all(np.abs(p - expected) <= tol)


@pytest.mark.parametrize("source,operands", [("ideal", 2), ("lfsr", 2), ("lfsr", 3)])
def test_integral_fsm_matches_markov_chain(source, operands):
    """Integer-step FSM occupancy = the Markov chain of the APC increment (M independent
    operands; with LFSRs this needs the coprime phase spacing)."""
    n, length = 8, 60000
    x = np.array([[0.3, -0.1, 0.2], [-0.5, -0.2, 0.1], [0.8, 0.6, -0.4]])[:, :operands]
    p, occ = simulate_fsm(x, states=n, length=length, source=source, seed=4,
                          return_occupancy=True)
    pa = (x + 1) / 2
    for b in range(len(x)):
        pmf, lo = apc_step_pmf(pa[b])
        assert lo == -operands
        if operands == 2:
            assert np.allclose(pmf, [(1 - pa[b, 0]) * (1 - pa[b, 1]), 0,
                                     pa[b, 0] * (1 - pa[b, 1]) + pa[b, 1] * (1 - pa[b, 0]),
                                     0, pa[b, 0] * pa[b, 1]])
        pi = integer_fsm_steady_state(pmf, n, lo)
        tol = 12 * np.sqrt(pi * (1 - pi) / length) + n / length
        assert np.all(np.abs(occ[b] / length - pi) <= tol)
        stanh = pi[n // 2:].sum()
        assert abs(p[b] - stanh) <= 12 * np.sqrt(stanh * (1 - stanh) / length) + n / length


@pytest.mark.parametrize("n,table", [(4, 0.055), (8, 0.013), (16, 0.0032), (32, 0.001)])
def test_stanh_error_table(n, table):
    """Max |Stanh(x) - tanh(Nx/2)| over [-0.99, 0.99] reproduces the brief (to its digits)."""
    x = np.linspace(-0.99, 0.99, 20001)
    err = np.abs(stanh_bipolar(x, n) - np.tanh(n * x / 2)).max()
    digits = 10.0 ** (np.floor(np.log10(table)) - 1)
    assert abs(err - table) <= 5 * digits
    assert np.allclose(stanh_bipolar(x, n), np.tanh(n / 2 * np.arctanh(x)), atol=1e-12)


@pytest.mark.parametrize("n", [4, 8])
def test_stanh_simulated_error(n):
    """The bit-level simulator shows the same systematic deviation from tanh(Nx/2) (N=4, 8,
    where it exceeds the simulation noise); x at the analytic argmax of the error."""
    xs = np.linspace(0.01, 0.99, 2000)
    err = stanh_bipolar(xs, n) - np.tanh(n * xs / 2)
    x0 = xs[np.argmax(np.abs(err))]
    length = 1 << 17
    p = simulate_fsm(np.full(16, x0), states=n, length=length, source="lfsr", width=20, seed=1)
    y = 2 * p.mean() - 1
    analytic = stanh_bipolar(x0, n)
    # 16 independent streams; autocorrelation inflation <= N, so k=6 on sqrt(N p(1-p)/(16L))
    pp = (analytic + 1) / 2
    tol = 6 * np.sqrt(n * pp * (1 - pp) / (16 * length)) * 2 + 2 * n / length
    assert abs(y - analytic) <= tol
    assert abs(y - np.tanh(n * x0 / 2)) >= np.abs(err).max() / 2


def test_saturation_edges():
    """x = -1 never outputs 1, x = +1 always does after the transient; 0 and 1 weights."""
    n, length = 8, 512
    p, occ = simulate_fsm(np.array([-1.0, 1.0]), states=n, length=length, return_occupancy=True)
    assert p[0] == 1 / length              # cycle 0 outputs from the reset state N/2 (y = 1)
    assert p[1] == 1.0                     # starts at N/2 >= N/2 and only moves up
    assert occ[0, 0] == length - n // 2 and occ[1, n - 1] == length - (n - 1 - n // 2)
    w0 = simulate_fsm(np.zeros(3), states=n, weights=np.zeros(n), length=length)
    w1 = simulate_fsm(np.zeros(3), states=n, weights=np.ones(n), length=length)
    assert np.all(w0 == 0.0) and np.all(w1 == 1.0)


@pytest.mark.parametrize("kwargs,param", [
    (dict(states=1), "states"), (dict(states=7), "states"), (dict(length=0), "length"),
    (dict(width=2), "width"), (dict(width=33), "width"), (dict(source="prng"), "source"),
    (dict(weights=np.ones(3)), "weights"), (dict(weights=np.full(8, 1.5)), "weights"),
    (dict(reset_state=8), "reset_state"), (dict(weight_bits=0), "weight_bits"),
    (dict(seed=-1), "seed"),
])
def test_bad_arguments(kwargs, param):
    base = dict(states=8, length=16)
    base.update(kwargs)
    with pytest.raises(SCValueError) as info:
        simulate_fsm(np.zeros(4), **base)
    assert info.value.param == param


@pytest.mark.parametrize("inputs", [np.array([0.5, 1.2]), np.array([np.nan]), np.zeros((0,)),
                                    np.zeros((2, 2, 2)), np.zeros((2, 0)), ["a", "b"],
                                    [[0.1, 0.2], [0.3]]])
def test_bad_inputs(inputs):
    with pytest.raises(SCValueError) as info:
        simulate_fsm(inputs, states=4, length=8)
    assert info.value.param.startswith("inputs")
