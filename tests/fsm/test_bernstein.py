"""Bernstein (ReSC) synthesis, its bit-level simulator and the LUT+SNG baseline, checked against
exact enumeration (math.comb sums), independent reimplementations and binomial statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sccompiler.errors import ExpressionError, SCValueError, SynthesisError
from sccompiler.fsm.bernstein import synthesize_bernstein
from sccompiler.fsm.lut import synthesize_lut
from sccompiler.sim import realizations as simr
from sccompiler.sim.realizations import lut_trace, resc_trace, simulate_resc
from sccompiler.sim.rules import lut_address, resc_select
from sccompiler.sim.seeds import correlation_z, scc


def _bernstein_sum(coeffs, p):
    """Exact enumeration of sum_k b_k C(n,k) p^k (1-p)^(n-k) (no scipy)."""
    n = len(coeffs) - 1
    return np.array([sum(c * math.comb(n, k) * q ** k * (1 - q) ** (n - k) for k, c in enumerate(coeffs))
                     for q in np.atleast_1d(p)])


def test_square_is_xnor_of_two_copies():
    d = synthesize_bernstein("x**2", degree=2, coefficient_bits=8)
    assert d.quantized_coefficients == (256, 0, 256)   # (1, 0, 1): XNOR of two copies
    assert d.analytic_max_error < 1e-9


@pytest.mark.parametrize("degree", [4, 6, 9])
def test_known_cubic_is_reproduced_exactly(degree):
    # bipolar y = x^3 - x/2: q(p) has Bernstein coefficients in [0, 1] from degree 4 on (not at 3)
    d = synthesize_bernstein("x**3 - x/2", degree=degree, coefficient_bits=12)
    assert d.unquantized_max_error < 1e-7
    x = np.linspace(-1, 1, 41)
    exact = 2 * _bernstein_sum(d.realized_coefficients, (x + 1) / 2) - 1
    np.testing.assert_allclose(d.output_value(x), exact, atol=1e-12)
    assert np.abs(exact - (x ** 3 - x / 2)).max() <= d.analytic_max_error + 1e-12


def test_random_bernstein_polynomial_is_recovered():
    rng = np.random.default_rng(5)
    n, b = 7, 8
    coeffs = rng.integers(0, 1 << b, n + 1) / (1 << b)
    poly = lambda x: _bernstein_sum(coeffs, np.asarray(x))  # noqa: E731 - unipolar in and out
    d = synthesize_bernstein(poly, degree=n, coefficient_bits=b, input="unipolar", output="unipolar", grid=201)
    assert d.analytic_max_error < 1e-9
    assert d.quantized_coefficients == tuple(int(round(c * (1 << b))) for c in coeffs)


def test_max_error_search_gives_the_smallest_degree():
    d = synthesize_bernstein("x*sigmoid(4*x)", max_error=0.01, coefficient_bits=None)
    assert d.analytic_max_error <= 0.01
    smaller = synthesize_bernstein("x*sigmoid(4*x)", degree=d.degree - 1, coefficient_bits=16)
    assert smaller.analytic_max_error > 0.01


def test_unreachable_error_says_how_close():
    with pytest.raises(SynthesisError, match=r"best at n=4: 0\.\d+"):
        synthesize_bernstein("2*exp(-9*x**2)-1", max_error=0.01, max_degree=4)


def test_bad_requests():
    with pytest.raises(SCValueError, match="integral"):
        synthesize_bernstein("x", degree=2, input="integral:4")
    with pytest.raises(ExpressionError, match="output range"):
        synthesize_bernstein("2*x", degree=2)
    with pytest.raises(SCValueError, match="degree"):
        synthesize_bernstein("x", degree=2, max_error=0.1)


# ----------------------------------------------------------------------------- bit level
def test_trace_follows_its_rule_and_copies_are_decorrelated():
    d = synthesize_bernstein("x*(1+erf(3*x/sqrt(2)))/2", degree=6, coefficient_bits=8)
    x = np.array([-0.6, 0.0, 0.3, 0.9])
    tr = resc_trace(x, d.quantized_coefficients, coefficient_bits=8, length=4096, seed=3, copy_bits=True)
    bits = tr["copy_bits"]
    assert bits.shape == (4, 6, 4096)
    np.testing.assert_array_equal(tr["k"], bits.sum(axis=1))
    np.testing.assert_array_equal(tr["k"], resc_select(bits))
    # pairwise SCC of the copies (same cycle) and the count's moments against Binomial(n, p)
    pairs = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    s = np.array([[scc(bits[b, i], bits[b, j]) for i, j in pairs] for b in (1, 2)])
    z = np.array([[correlation_z(bits[b, i], bits[b, j]) for i, j in pairs] for b in range(4)])
    assert np.abs(s).max() < 0.1 and np.abs(z).max() < 4.0, (s, z)
    p = (x + 1) / 2
    k = tr["k"].astype(float)
    se = np.sqrt(6 * p * (1 - p) / 4096) + 1e-9
    assert np.all(np.abs(k.mean(axis=1) - 6 * p) < 5 * se + 1e-9)
    assert np.all(np.abs(k.var(axis=1) - 6 * p * (1 - p)) < 0.15 * 6 * p * (1 - p) + 1e-9)


def test_simulator_is_the_trace_summed_in_chunks(monkeypatch):
    d = synthesize_bernstein("x**3 - x/2", degree=4, coefficient_bits=10)
    x = np.linspace(-1, 1, 9)
    ref = resc_trace(x, d.quantized_coefficients, coefficient_bits=10, length=300, seed=2)["count"]
    monkeypatch.setattr(simr, "CHUNK_ELEMENTS", 4 * 300 * 2)  # 2 streams per chunk
    got = simulate_resc(x, d.quantized_coefficients, coefficient_bits=10, length=300, seed=2)
    np.testing.assert_array_equal(np.rint(got * 300).astype(int), ref)


@pytest.mark.parametrize("expr,degree", [("x**2", 2), ("x*sigmoid(4*x)", 4), ("x**3 - x/2", 4)])
def test_bit_level_error_within_the_binomial_spread(expr, degree):
    d = synthesize_bernstein(expr, degree=degree, coefficient_bits=10)
    x = np.linspace(-1, 1, 17)
    runs = np.stack([simulate_resc(x, d.quantized_coefficients, coefficient_bits=10, length=1024, seed=s)
                     for s in range(1, 9)])
    q = d.probability(x)
    z = (runs.mean(axis=0) - q) / np.sqrt(np.maximum(q * (1 - q), 1e-6) / (1024 * 8))
    assert np.sqrt(np.mean(z ** 2)) < 1.8 and np.abs(z).max() < 4.5, z


def test_sobol_copies_are_refused():
    with pytest.raises(SCValueError, match="correlated"):
        simulate_resc([0.1], (0, 4, 8), coefficient_bits=3, length=8, source="sobol")


# ----------------------------------------------------------------------------- LUT+SNG
def test_lut_analytic_error_against_dense_evaluation():
    d = synthesize_lut("2*exp(-9*x**2)-1", max_error=0.01, table_bits=None)
    assert d.analytic_max_error <= 0.01
    x = np.random.default_rng(1).uniform(-1, 1, 20000)
    err = np.abs(d.output_value(x) - (2 * np.exp(-9 * x ** 2) - 1))
    assert err.max() <= d.analytic_max_error + 1e-3
    assert err.max() > 0.5 * d.analytic_max_error
    smaller = synthesize_lut("2*exp(-9*x**2)-1", address_bits=d.address_bits - 1, table_bits=16)
    assert smaller.analytic_max_error > 0.01


def test_lut_address_rule():
    np.testing.assert_array_equal(lut_address([-1.0, -0.5001, 0.0, 0.999, 1.0], 2, -1.0, 1.0), [0, 0, 2, 3, 3])


def test_lut_trace_counts_are_binomial():
    d = synthesize_lut("x**2", address_bits=4, table_bits=8)
    x = np.linspace(-1, 1, 9)
    counts = np.stack([lut_trace(x, d.table, table_bits=8, address_bits=4, domain=d.domain, length=2048,
                                 stream_input=False, seed=s)["count"] for s in range(1, 5)])
    q = (d.output_value(x) + 1) / 2
    z = (counts.mean(axis=0) / 2048 - q) / np.sqrt(np.maximum(q * (1 - q), 1e-6) / (2048 * 4))
    assert np.abs(z).max() < 4.5
