"""``sim.rules.cell_sign_thresholds``: the integer rule equals sign(s clip(C/L, -K, K) + m) for
every count C the cell counter can hold (exhaustive per drawn case; ties decided as sign(0) = +1)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sccompiler.sim.rules import cell_sign, cell_sign_thresholds


def _direct(C: np.ndarray, s: float, m: float, K: int, L: int) -> np.ndarray:
    return np.where(s * np.clip(C / L, -K, K) + m >= 0, 1.0, -1.0)


@settings(max_examples=300, deadline=None)
@given(K=st.integers(1, 4), L=st.sampled_from([1, 2, 7, 16, 64, 257]),
       # |s| >= 1e-6: a subnormal s underflows s c to 0 in the direct formula itself
       s=st.one_of(st.just(0.0), st.floats(1e-6, 4), st.floats(-4, -1e-6)),
       m=st.one_of(st.just(0.0), st.floats(-10, 10, allow_nan=False)))
def test_integer_rule_equals_the_real_decision(K, L, s, m):
    C = np.arange(-(K + 1) * L, (K + 1) * L + 1)
    ge, thr = cell_sign_thresholds(np.array([[s]]), np.array([[m]]), K, L, 1)
    got = cell_sign(C, ge[0, 0], thr[0, 0])
    want = _direct(C, s, m, K, L)
    # the threshold theta L = -m L / s is rounded once in float64; a count exactly at it can only
    # disagree through that rounding
    theta = -m / s if s != 0 else 0.0
    off = np.abs(C - theta * L) <= 1e-9 * max(1.0, abs(theta * L))
    assert np.array_equal(got[~off], want[~off])


def test_constants_and_shapes():
    K, L = 2, 16
    s = np.array([[1.0, -1.0, 0.0, 0.0, 1.0, -1.0], [2.0, 2.0, 2.0, 2.0, 2.0, 2.0]])
    m = np.array([[0.0, 0.0, 1.0, -1.0, 5.0, 5.0], [0.0, -1.0, 1.0, 8.0, -8.0, 0.5]])
    ge, thr = cell_sign_thresholds(s, m, K, L, 6)
    assert ge.shape == thr.shape == (2, 6) and ge.dtype == thr.dtype == np.int64
    always, never = -(K + 1) * L, (K + 1) * L + 1
    # row 0: c >= 0; c <= 0; +1; -1; c >= -5 (always); c <= 5 (always)
    assert thr[0].tolist() == [0, 0, always, never, always, always]
    assert ge[0].tolist() == [1, 0, 1, 1, 1, 1]
    # row 1 (s = 2): theta = 0, 0.5, -0.5, -4 (always), 4 (never), -0.25
    assert thr[1].tolist() == [0, 8, -8, always, never, -4]
    # no batch norm: sign(c), ties to +1
    ge0, thr0 = cell_sign_thresholds(None, None, K, L, 3)
    assert ge0.tolist() == [[1, 1, 1]] and thr0.tolist() == [[0, 0, 0]]
    assert cell_sign(np.array([-1, 0, 1]), ge0[0], thr0[0]).tolist() == [-1.0, 1.0, 1.0]
