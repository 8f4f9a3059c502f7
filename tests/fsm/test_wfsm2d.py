"""Two-dimensional WFSM: exact enumeration of its steady state, the families it contains, and
its bit-level simulator (independent counters, output converging to the analytic value)."""

from __future__ import annotations

import numpy as np
import pytest

from sccompiler.errors import SCValueError
from sccompiler.fsm import synthesize_fsm
from sccompiler.fsm.wfsm2d import synthesize_wfsm2d
from sccompiler.sim.realizations import wfsm2d_trace


def _pi(x, n):
    """Linear FSM steady state by its closed form pi_i = t^i / sum_k t^k, t = p/(1-p)."""
    p = (1 + np.clip(x, -1 + 1e-12, 1 - 1e-12)) / 2
    t = p / (1 - p)
    w = t[:, None] ** np.arange(n)[None, :]
    return w / w.sum(axis=1, keepdims=True)


def test_square_is_exact_with_two_states():
    d = synthesize_wfsm2d("x**2", states=2, weight_bits=4)
    assert d.quantized_table == (16, 0, 0, 16) and d.analytic_max_error < 1e-9


def test_analytic_output_is_the_product_steady_state():
    d = synthesize_wfsm2d("abs(x)", states=8, weight_bits=8)
    x = np.linspace(-0.99, 0.99, 31)
    pi = _pi(x, 8)
    w = np.asarray(d.quantized_table, dtype=float).reshape(8, 8) / 256
    exact = 2 * np.array([pi[g] @ w @ pi[g] for g in range(len(x))]) - 1
    np.testing.assert_allclose(d.output_value(x), exact, atol=1e-9)
    assert np.array_equal(w, w.T)


def test_contains_the_single_wfsm_and_beats_it_on_abs():
    one = synthesize_fsm("abs(x)", states=16, weight_bits=10, objective="minimax")
    two = synthesize_wfsm2d("abs(x)", states=16, weight_bits=10)
    assert two.analytic_max_error <= one.analytic_max_error + 1e-3
    assert two.analytic_max_error < 0.0095 < one.analytic_max_error


def test_bit_level_follows_the_analytic_value():
    d = synthesize_wfsm2d("abs(x)", states=8, weight_bits=8)
    x = np.array([-0.7, -0.2, 0.0, 0.4, 0.9])
    runs = [wfsm2d_trace(x, d.quantized_table, states=8, weight_bits=8, length=8192, seed=s) for s in range(1, 5)]
    mean = 2 * np.mean([r["count"] / 8192 for r in runs], axis=0) - 1
    assert np.abs(mean - d.output_value(x)).max() < 0.03
    st = runs[0]["states"].astype(float)            # (B, 2, L): the counters are independent
    c = [np.corrcoef(st[b, 0], st[b, 1])[0, 1] for b in range(len(x))]
    assert np.abs(c).max() < 0.1, c


def test_bad_state_count():
    with pytest.raises(SCValueError, match="power of two"):
        synthesize_wfsm2d("x**2", states=6)
