"""The rules of a primitive (sccompiler.sim.rules, docs/semantics.md §5.3): their values, the one
Stanh table shared by the simulator and FSM synthesis, and odd-N Stanh symmetry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sccompiler.errors import SCValueError
from sccompiler.sim import primitives as P
from sccompiler.sim import rules as R


# ----------------------------------------------------------------------------- values
@pytest.mark.parametrize("n,reset,width", [(2, 1, 1), (3, 1, 2), (4, 2, 2), (5, 2, 3), (8, 4, 3),
                                           (9, 4, 4), (16, 8, 4), (17, 8, 5), (256, 128, 8)])
def test_fsm_reset_state_and_width(n, reset, width):
    assert R.fsm_reset_state(n) == reset
    assert R.fsm_state_width(n) == width
    assert (1 << R.fsm_state_width(n)) >= n > (1 << (R.fsm_state_width(n) - 1)) or n == 2


@pytest.mark.parametrize("v,width", [(0, 1), (1, 1), (2, 2), (3, 2), (4, 3), (255, 8), (256, 9)])
def test_unsigned_width(v, width):
    assert R.unsigned_width(v) == width


@pytest.mark.parametrize("lo,hi,width", [(0, 0, 1), (-1, 0, 1), (0, 1, 2), (-2, 1, 2), (-3, 1, 3),
                                         (-8, 7, 4), (-9, 7, 5), (-8, 8, 5), (5, 9, 5), (-9, -5, 5),
                                         (-(1 << 40), 0, 41)])
def test_signed_width(lo, hi, width):
    assert R.signed_width(lo, hi) == width


@given(st.integers(-(1 << 70), 1 << 70), st.integers(-(1 << 70), 1 << 70))
def test_signed_width_is_the_smallest_fitting_width(lo, hi):
    """signed_width(lo, hi) is the smallest w >= 1 with -(2^(w-1)) <= lo and hi <= 2^(w-1) - 1."""
    w = R.signed_width(lo, hi)

    def fits(k):
        return -(1 << (k - 1)) <= lo and hi <= (1 << (k - 1)) - 1

    assert w >= 1 and fits(w)
    assert w == 1 or not fits(w - 1)


@given(st.integers(-(1 << 40), 1 << 40), st.integers(-(1 << 40), 1 << 40))
def test_fixed_point_sbits_is_signed_width(lo, hi):
    from sccompiler.quantize.fixed_point import sbits

    assert sbits(lo, hi) == R.signed_width(lo, hi)


@pytest.mark.parametrize("n,table", [
    (2, [0, 1]), (3, [0, 0.5, 1]), (4, [0, 0, 1, 1]), (5, [0, 0, 0.5, 1, 1]),
    (6, [0, 0, 0, 1, 1, 1]), (7, [0, 0, 0, 0.5, 1, 1, 1])])
def test_stanh_weights_table(n, table):
    np.testing.assert_array_equal(R.stanh_weights(n), table)


def test_stanh_threshold_even_only():
    assert [R.stanh_threshold(n) for n in (2, 4, 8, 16)] == [1, 2, 4, 8]
    for n in (3, 5, 17):
        with pytest.raises(SCValueError, match="even state count"):
            R.stanh_threshold(n)
    with pytest.raises(SCValueError, match="states"):
        R.stanh_weights(1)


def test_quantized_weights():
    np.testing.assert_array_equal(R.quantized_weights(R.stanh_weights(5), 8), [0, 0, 128, 256, 256])
    np.testing.assert_array_equal(R.quantized_weights([0.0, 0.25, 1 / 3, 0.999, 1.0], 4),
                                  [0, 4, 5, 16, 16])
    from sccompiler.sim.encoding import quantize_weights

    w = np.linspace(0, 1, 101)
    np.testing.assert_array_equal(quantize_weights(w, 7), R.quantized_weights(w, 7))


def test_sign_decode_ties_to_plus_one():
    np.testing.assert_array_equal(R.sign_decode([0, 3, 4, 5, 8], 8), [-1, -1, 1, 1, 1])
    np.testing.assert_array_equal(R.sign_decode([0, 1, 2, 3], 3), [-1, -1, 1, 1])
    assert R.sign_decode(np.array([[2]]), 4).dtype == np.float64


@pytest.mark.parametrize("step,rows,row", [(0, 1, 0), (5, 1, 0), (0, 4, 0), (3, 4, 3), (4, 4, 3),
                                           (100, 4, 3)])
def test_stats_row(step, rows, row):
    assert R.stats_row(step, rows) == row
    assert R.stats_rows(step + 1, rows)[-1] == row


@pytest.mark.parametrize("value,lo,hi,ok", [(3, 0, 5, True), (np.int64(3), 0, 5, True), (0, 0, None, True),
                                             (True, 0, 5, False), (3.0, 0, 5, False), ("3", 0, 5, False),
                                             (6, 0, 5, False), (-1, 0, None, False)])
def test_check_int(value, lo, hi, ok):
    if ok:
        assert R.check_int("p", value, lo, hi) == int(value)
        assert type(R.check_int("p", value, lo, hi)) is int
        assert R.int_problem(value, lo, hi) is None
    else:
        with pytest.raises(SCValueError, match="^p: must be"):
            R.check_int("p", value, lo, hi)


def test_integer_validators_are_one():
    """sources.check_int (public) is the rules' validator; FSM synthesis and the config use its wording."""
    from sccompiler.config import CompileConfig
    from sccompiler.errors import ConfigError
    from sccompiler.fsm import synthesize_fsm
    from sccompiler.sim import sources

    assert sources.check_int is R.check_int
    with pytest.raises(SCValueError, match=r"grid: must be in \[3, 1000000\], got 2"):
        synthesize_fsm("tanh(2*x)", states=4, grid=2)
    with pytest.raises(ConfigError, match=r"length: must be in \[1, 1048576\], got 0"):
        CompileConfig(length=0)
    with pytest.raises(ConfigError, match="length: must be an integer, got True"):
        CompileConfig(length=True)


# ----------------------------------------------------------------------------- one Stanh table
@pytest.mark.parametrize("n", [2, 3, 4, 5, 7, 8, 9, 16, 31, 64])
def test_the_former_stanh_tables_agree(n):
    """sim.primitives, fsm (synthesis baseline) and the rules module give the same table."""
    from sccompiler.fsm import stanh_weights as fsm_stanh
    from sccompiler.fsm.synth import stanh_weights as synth_stanh

    ref = R.stanh_weights(n)
    for f in (P.stanh_weights, fsm_stanh, synth_stanh):
        np.testing.assert_array_equal(f(n), ref)


def test_synthesis_baseline_is_the_rules_table():
    from sccompiler.fsm import synthesize_fsm

    d = synthesize_fsm("tanh(2.5*x)", states=5, grid=65)
    np.testing.assert_array_equal(d.baseline.weights, R.stanh_weights(5))


def test_stanh_output_refuses_odd_n():
    s = np.arange(6)
    np.testing.assert_array_equal(P.stanh_output(s, 6), s >= 3)
    with pytest.raises(SCValueError, match="weighted FSM"):
        P.stanh_output(np.arange(5), 5)


def test_odd_n_stanh_needs_a_weighted_fsm_everywhere():
    from sccompiler.sim import Netlist, simulate_fsm

    with pytest.raises(SCValueError, match="even state count"):
        simulate_fsm(np.zeros(2), states=5, length=16)
    nl = Netlist()
    with pytest.raises(SCValueError, match="even state count"):
        nl.fsm(nl.sng(0.5, encoding="bipolar"), states=5)


# ----------------------------------------------------------------------------- odd-N symmetry
@pytest.mark.parametrize("n", [3, 5, 7, 9, 15, 4, 8])
def test_stanh_steady_state_is_odd(n):
    """y(-x) = -y(x) in steady state for every N (odd N: middle weight 1/2); y(0) = 0."""
    from sccompiler.fsm.steady import binary_steady_state

    x = np.linspace(-0.99, 0.99, 199)
    y = P.stanh_bipolar(x, n)
    np.testing.assert_allclose(y, -P.stanh_bipolar(-x, n), atol=1e-12)
    assert abs(P.stanh_bipolar(0.0, n)) < 1e-12
    y_fsm = 2 * binary_steady_state(x, n) @ R.stanh_weights(n) - 1
    np.testing.assert_allclose(y_fsm, y, atol=1e-12)
    assert np.all(np.diff(y) > 0)


@pytest.mark.parametrize("n", [3, 5, 7])
def test_odd_n_stanh_closed_form(n):
    """docs/semantics.md §5.2: y = (t^m - 1)(t^(m+1) - 1)/(t^N - 1), N = 2m+1, t = (1+x)/(1-x)."""
    x = np.linspace(-0.9, 0.9, 37)
    x = x[np.abs(x) > 1e-9]
    m, t = n // 2, (1 + x) / (1 - x)
    np.testing.assert_allclose(P.stanh_bipolar(x, n), (t ** m - 1) * (t ** (m + 1) - 1) / (t ** n - 1),
                               atol=1e-12)


def test_odd_n_stanh_simulated_is_odd():
    """Bit level: the weighted odd-N Stanh FSM gives y(-x) ~ -y(x) within the simulation noise."""
    from sccompiler.sim import simulate_fsm

    n, length = 5, 1 << 15
    x = np.array([0.0, 0.2, 0.5, 0.8])
    xs = np.concatenate([x, -x])
    p = simulate_fsm(np.repeat(xs, 8), states=n, weights=R.stanh_weights(n), length=length,
                     source="lfsr", width=20, seed=3)
    y = (2 * p - 1).reshape(len(xs), 8).mean(axis=1)
    tol = 6 * np.sqrt(n / (8 * length)) + 2 * n / length
    np.testing.assert_allclose(y[:4], -y[4:], atol=2 * tol)
    np.testing.assert_allclose(y, P.stanh_bipolar(xs, n), atol=tol)
