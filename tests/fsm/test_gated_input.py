"""``gated_operand_input``: operands switched off add exactly 0 (zero weights, gated zero inputs)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sccompiler.errors import SCValueError
from sccompiler.fsm import PoissonBinomialInput, gated_operand_input, synthesize_fsm


def _pmf_by_d(model) -> list[dict[int, float]]:
    tab = model.increments()
    return [{int(d): float(p) for d, p in zip(tab.deltas, row) if p > 0} for row in tab.pmf]


def test_all_active_equals_poisson_binomial():
    rng = np.random.default_rng(0)
    v = rng.uniform(-1, 1, size=(5, 7))
    g, pb = gated_operand_input(v, np.ones_like(v, dtype=bool)), PoissonBinomialInput.from_array(v)
    for a, b in zip(_pmf_by_d(g), _pmf_by_d(pb)):
        assert a.keys() == b.keys()
        assert all(abs(a[k] - b[k]) < 1e-12 for k in a)


def test_inactive_operands_are_left_out():
    rng = np.random.default_rng(1)
    v = rng.uniform(-1, 1, size=(4, 6))
    on = np.array([[1, 1, 0, 1, 0, 1]] * 4, dtype=bool)
    g = gated_operand_input(v, on)
    sub = PoissonBinomialInput.from_array(v[:, on[0]])
    for a, b in zip(_pmf_by_d(g), _pmf_by_d(sub)):
        assert a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-12 for k in a)


def test_single_deterministic_operand():
    # one active operand of value +1: d = +1 every cycle; inactive ones with value 0 add nothing
    g = gated_operand_input([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]], [[True, False, False], [True, False, False]])
    assert _pmf_by_d(g) == [{1: 1.0}, {-1: 1.0}]


@given(st.integers(1, 6), st.integers(1, 8), st.integers(0, 10_000))
def test_moments(s, m, seed):
    rng = np.random.default_rng(seed)
    v = rng.uniform(-1, 1, size=(s, m))
    on = rng.random((s, m)) < 0.6
    tab = gated_operand_input(v, on).increments()
    assert np.allclose(tab.pmf.sum(axis=1), 1.0)
    assert np.allclose(tab.x, (v * on).sum(axis=1))                      # E[d] = sum of active values
    var = tab.pmf @ tab.deltas.astype(float) ** 2 - tab.x ** 2
    assert np.allclose(var, ((1 - v ** 2) * on).sum(axis=1))             # independent +-1 operands


def test_bad_arrays():
    with pytest.raises(SCValueError):
        gated_operand_input(np.zeros((2, 3)), np.ones((2, 2), dtype=bool))
    with pytest.raises(SCValueError):
        gated_operand_input([[2.0, 0.0]], [[True, False]])
    with pytest.raises(SCValueError):
        gated_operand_input([[np.nan, 0.0]], [[True, True]])


def test_synthesis_on_a_gated_model():
    rng = np.random.default_rng(2)
    v = rng.uniform(-1, 1, size=(64, 10))
    on = rng.random((64, 10)) < 0.5
    d = synthesize_fsm(lambda z: np.tanh(0.5 * np.asarray(z)), states=16, input=gated_operand_input(v, on), grid=401)
    assert d.analytic_rmse < 0.1
