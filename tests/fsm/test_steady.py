"""Steady states: the closed form against docs/background.md §3's Stanh table, the chain solve against a dense
eigen-solve oracle, and properties (normalization, symmetry, monotonicity, extreme N and x)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sccompiler.errors import SCValueError
from sccompiler.fsm import (
    BinaryInput,
    BinomialInput,
    EmpiricalInput,
    PoissonBinomialInput,
    binary_steady_state,
    chain_steady_state,
    stanh_weights,
)
from sccompiler.fsm.inputs import poisson_binomial_pmf
from sccompiler.fsm.steady import transition_matrices


@pytest.mark.parametrize("states, table_max", [(4, 0.055), (8, 0.013), (16, 0.0032), (32, 0.001)])
def test_stanh_matches_brief_table(states, table_max):
    x = np.linspace(-0.99, 0.99, 4001)
    y = 2 * binary_steady_state(x, states) @ stanh_weights(states) - 1
    err = np.abs(y - np.tanh(states * x / 2)).max()
    assert err == pytest.approx(table_max, rel=0.25)
    # and Stanh is exactly tanh((N/2) artanh x)
    np.testing.assert_allclose(y, np.tanh(states / 2 * np.arctanh(x)), atol=1e-12)


def _dense_oracle(table, states):
    """Left null vector of P - I by least squares (independent of the banded pinning trick)."""
    out = []
    for p in transition_matrices(table, states):
        a = np.vstack([p.T - np.eye(states), np.ones(states)])
        b = np.zeros(states + 1)
        b[-1] = 1
        out.append(np.linalg.lstsq(a, b, rcond=None)[0])
    return np.array(out)


@pytest.mark.parametrize("model, states", [(BinaryInput(), 7), (BinomialInput(2), 8), (BinomialInput(2), 9),
                                           (BinomialInput(3), 12), (BinomialInput(5), 4)])
def test_chain_solve_matches_dense_oracle(model, states):
    lo, hi = model.domain
    table = model.increments(np.linspace(lo * 0.95, hi * 0.95, 23))
    np.testing.assert_allclose(chain_steady_state(table, states), _dense_oracle(table, states), atol=1e-10)


def test_chain_with_unit_steps_equals_closed_form():
    x = np.linspace(-1, 1, 101)
    np.testing.assert_allclose(chain_steady_state(BinaryInput().increments(x), 20),
                               binary_steady_state(x, 20), atol=1e-12)


def test_large_n_and_saturated_inputs_are_finite():
    x = np.array([-1.0, -0.999999, -1e-12, 0.0, 1e-12, 0.999999, 1.0])
    pi = binary_steady_state(x, 256)
    assert np.all(np.isfinite(pi)) and np.allclose(pi.sum(axis=1), 1)
    assert pi[0, 0] == 1.0 and pi[-1, -1] == 1.0
    np.testing.assert_allclose(pi[3], np.full(256, 1 / 256))
    tab = BinomialInput(4).increments(np.array([-4.0, -3.99, 0.0, 3.99, 4.0]))
    pic = chain_steady_state(tab, 256)
    assert np.all(np.isfinite(pic)) and np.allclose(pic.sum(axis=1), 1)
    assert pic[0, 0] == pytest.approx(1.0) and pic[-1, -1] == pytest.approx(1.0)


@given(x=st.floats(-1, 1), states=st.integers(2, 300))
def test_binary_properties(x, states):
    pi = binary_steady_state(np.array([x, -x]), states)
    assert np.all(pi >= 0) and np.allclose(pi.sum(axis=1), 1)
    np.testing.assert_allclose(pi[0], pi[1][::-1], atol=1e-12)  # mirror symmetry
    if x > 0:
        assert np.all(np.diff(pi[0]) >= -1e-15)  # t > 1: occupancy grows towards the top


@given(x=st.floats(-0.999, 0.999), m=st.integers(1, 6), states=st.integers(2, 40))
def test_binomial_chain_symmetry(x, m, states):
    tab = BinomialInput(m).increments(np.array([x * m, -x * m]))
    pi = chain_steady_state(tab, states)
    assert np.all(pi >= 0) and np.allclose(pi.sum(axis=1), 1)
    np.testing.assert_allclose(pi[0], pi[1][::-1], atol=1e-9)


def test_poisson_binomial_pmf_matches_enumeration():
    probs = np.array([[0.1, 0.7, 0.4], [0.5, 0.5, 0.5]])
    pmf = poisson_binomial_pmf(probs)
    for row, p in zip(pmf, probs):
        brute = np.zeros(4)
        for bits in np.ndindex(2, 2, 2):
            brute[sum(bits)] += np.prod([pj if b else 1 - pj for b, pj in zip(bits, p)])
        np.testing.assert_allclose(row, brute, atol=1e-15)


def test_unequal_operands_change_the_steady_state():
    # docs/background.md §5: (0.25, 0.25) and (1, -0.5) both represent 0.5 but drive the counter differently
    model = PoissonBinomialInput.from_array([[0.25, 0.25], [1.0, -0.5]])
    tab = model.increments()
    np.testing.assert_allclose(tab.x, [0.5, 0.5])
    pi = chain_steady_state(tab, 8)
    assert np.abs(pi[0] - pi[1]).max() > 0.1


def test_empirical_model_and_all_zero_increments():
    model = EmpiricalInput.from_arrays([-1, 0, 2], [[1, 2, 1], [0, 5, 0]])
    tab = model.increments()
    np.testing.assert_allclose(tab.x, [0.25, 0.0])
    pi = chain_steady_state(tab, 6)
    np.testing.assert_allclose(pi[1], np.eye(6)[3])  # never moves: stays at reset N//2
    np.testing.assert_allclose(pi[0], _dense_oracle(tab, 6)[0], atol=1e-10)


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, True])
def test_bad_state_counts(bad):
    with pytest.raises(SCValueError, match="states"):
        binary_steady_state(np.zeros(3), bad)


def test_out_of_range_inputs_rejected():
    with pytest.raises(SCValueError):
        binary_steady_state(np.array([1.5]), 4)
    with pytest.raises(SCValueError):
        BinomialInput(2).increments(np.array([2.5]))
    with pytest.raises(SCValueError):
        BinomialInput(0)
    with pytest.raises(SCValueError):
        PoissonBinomialInput.from_array([[1.2, 0.0], [0.0, 0.0]])
