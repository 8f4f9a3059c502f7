"""Batch-norm folding: affine folds are exact rewrites; integer thresholds reproduce sign(BN(.))
for every admissible integer pre-activation, including the boundary and gamma < 0 / gamma = 0."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sccompiler.errors import SCValueError
from sccompiler.ir import BatchNormParams
from sccompiler.quantize.bnfold import (
    UNBOUNDED,
    bn_affine_table,
    fold_bn_affine,
    fold_bn_into_weights,
    fold_bn_threshold,
)


def _bn(rng, rows, steps=None, gamma=None) -> BatchNormParams:
    shape = (rows,) if steps is None else (steps, rows)
    g = rng.uniform(-2, 2, shape) if gamma is None else np.broadcast_to(gamma, shape)
    return BatchNormParams(g, rng.normal(size=shape), rng.normal(size=shape),
                           rng.uniform(0.1, 4, shape), eps=1e-4)


def _bn_direct(bn: BatchNormParams, a: np.ndarray, t: int) -> np.ndarray:
    """The textbook formula, evaluated independently of BatchNormParams.at."""
    def row(v):
        return v[min(t, v.shape[0] - 1)] if v.ndim == 2 else v
    return row(bn.gamma) * (a - row(bn.mean)) / np.sqrt(row(bn.var) + bn.eps) + row(bn.beta)


def test_affine_table_rows_are_bn_at_t():
    rng = np.random.default_rng(0)
    bn = _bn(rng, 5, steps=3)
    scale, shift = bn_affine_table(bn, 6)
    assert scale.shape == (6, 5)
    for t in range(6):
        s, m = bn.at(t)
        np.testing.assert_array_equal(scale[t], s)
        np.testing.assert_array_equal(shift[t], m)
    flat = _bn(rng, 5)
    s, m = bn_affine_table(flat, 2)
    np.testing.assert_array_equal(s[1], flat.at(7)[0])


@pytest.mark.parametrize("steps", [None, 3])
def test_fold_affine_and_weights_match_bn(steps):
    rng = np.random.default_rng(1)
    rows, cols = 6, 4
    bn = _bn(rng, rows, steps)
    w = rng.normal(size=(rows, cols))
    bias = rng.normal(size=rows)
    folded = fold_bn_affine(bn, bias)
    x = rng.normal(size=(10, cols))
    for t in range(5):
        want = _bn_direct(bn, x @ w.T, t) + bias
        np.testing.assert_allclose(folded.apply(x @ w.T, t), want, rtol=1e-12, atol=1e-12)
        w2, b2 = fold_bn_into_weights(w, bn, bias, t=t)
        np.testing.assert_allclose(x @ w2.T + b2, want, rtol=1e-12, atol=1e-12)
    if steps is not None:
        with pytest.raises(SCValueError, match="t:"):
            fold_bn_into_weights(w, bn, bias)
    with pytest.raises(SCValueError, match="bias"):
        fold_bn_affine(bn, np.zeros(rows + 1))
    with pytest.raises(SCValueError, match="weight"):
        fold_bn_into_weights(np.zeros((rows + 1, 2)), bn, t=0)


def _check_threshold(bn, alpha, bias, k_bound, t):
    th = fold_bn_threshold(bn, alpha, bias, t=t, k_bound=k_bound)
    k = np.arange(-k_bound, k_bound + 1)[:, None]
    s, m = bn.at(t)
    want = np.where((s * (alpha * k) + m) + bias >= 0, 1, -1)  # sign(0) = +1
    got = th.apply(np.broadcast_to(k, (k.shape[0], bn.features)), t=0 if t is not None else 0)
    np.testing.assert_array_equal(got, want)
    return th


@given(st.integers(0, 2 ** 31), st.integers(1, 40), st.floats(0.01, 3.0), st.booleans())
def test_threshold_reproduces_sign_of_bn(seed, k_bound, alpha, negative_alpha):
    rng = np.random.default_rng(seed)
    rows = 7
    gamma = rng.uniform(-2, 2, rows)
    gamma[0] = 0.0  # a constant row
    bn = BatchNormParams(gamma, rng.normal(size=rows), rng.normal(size=rows) * k_bound * alpha / 2,
                         rng.uniform(0.1, 4, rows))
    bias = rng.normal(size=rows)
    a = -alpha if negative_alpha else alpha
    th = _check_threshold(bn, a, bias, k_bound, None)
    assert np.all(np.abs(th.theta) <= k_bound + 1)
    assert set(np.unique(th.direction)) <= {-1, 1}


def test_threshold_exact_boundary_and_flip():
    # scale s = gamma/sqrt(var+eps) = ±0.5 exactly, m = beta - s*mean; k*alpha*s + m == 0 at k = 3
    bn = BatchNormParams(gamma=np.array([1.0, -1.0, 0.0, 0.0, 0.0]),
                         beta=np.array([0.0, 0.0, 0.25, -0.25, 0.0]),
                         mean=np.array([3.0, 3.0, 0.0, 0.0, 0.0]), var=np.array([4.0, 4.0, 1.0, 1.0, 1.0]),
                         eps=0.0)
    th = fold_bn_threshold(bn, 1.0, k_bound=10)
    # row 0: 0.5*(k-3) >= 0 <=> k >= 3; row 1: -0.5*(k-3) >= 0 <=> k <= 3 (gamma < 0 flips)
    assert th.theta[0] == 3 and th.direction[0] == 1
    assert th.theta[1] == 3 and th.direction[1] == -1
    ks = np.arange(-10, 11)[:, None].repeat(5, axis=1)
    out = th.apply(ks)
    np.testing.assert_array_equal(out[:, 0], np.where(ks[:, 0] >= 3, 1, -1))
    np.testing.assert_array_equal(out[:, 1], np.where(ks[:, 1] <= 3, 1, -1))
    np.testing.assert_array_equal(out[:, 2], 1)   # gamma = 0, beta > 0: always +1
    np.testing.assert_array_equal(out[:, 3], -1)  # gamma = 0, beta < 0: always -1
    np.testing.assert_array_equal(out[:, 4], 1)   # BN output exactly 0: sign(0) = +1
    unbounded = fold_bn_threshold(bn, 1.0)
    assert unbounded.theta[2] == -UNBOUNDED and unbounded.theta[3] == UNBOUNDED


def test_threshold_per_step_and_ternary_alpha():
    rng = np.random.default_rng(4)
    bn = _bn(rng, 5, steps=3)
    alpha = 0.5 * np.sqrt(6 / 11) * 0.75  # a W0 times an input scale
    bias = rng.normal(size=5)
    all_steps = fold_bn_threshold(bn, alpha, bias, k_bound=12)
    assert all_steps.theta.shape == (3, 5)
    for t in range(5):
        one = _check_threshold(bn, alpha, bias, 12, t)
        np.testing.assert_array_equal(all_steps.at(t)[0], one.theta)
        np.testing.assert_array_equal(all_steps.at(t)[1], one.direction)


def test_threshold_matches_reference_float_evaluation_near_ties():
    # many rows whose real threshold lies a rounding error away from an integer
    rng = np.random.default_rng(5)
    rows = 400
    alpha = 0.1
    k_star = rng.integers(-20, 20, rows)
    gamma = rng.uniform(0.3, 2, rows) * rng.choice([-1, 1], rows)
    var = np.ones(rows)
    scale = gamma / np.sqrt(var + 1e-5)
    mean = alpha * k_star + rng.choice([-1e-16, 0.0, 1e-16], rows)
    bn = BatchNormParams(gamma, np.zeros(rows), mean, var)
    _check_threshold(bn, alpha, np.zeros(rows), 25, None)
    assert np.all(np.isfinite(scale))


def test_threshold_bad_arguments():
    bn = BatchNormParams(np.ones(2), np.zeros(2), np.zeros(2), np.ones(2))
    with pytest.raises(SCValueError, match="alpha"):
        fold_bn_threshold(bn, 0.0)
    with pytest.raises(SCValueError, match="k_bound"):
        fold_bn_threshold(bn, 1.0, k_bound=-1)


def test_threshold_agrees_with_reference_forward_of_binary_layer():
    """Linear(±w0 weights) -> per-step BatchNorm -> sign, on ±1 inputs, equals the folded
    integer threshold on k = Wint @ x (dyadic w0, so the float sums are exact)."""
    from sccompiler.ir import Activation, BatchNorm, InputSpec, Linear, Model, Tensor
    from sccompiler.reference import forward

    rng = np.random.default_rng(12)
    n_in, rows, steps = 9, 6, 4
    w0 = 0.25
    w_int = rng.choice([-1.0, 1.0], size=(rows, n_in))
    bn = _bn(rng, rows, steps=3)
    model = Model((Linear("fc", in_size=n_in, out_size=rows, weight=Tensor(w0 * w_int)),
                   BatchNorm("bn", params=bn), Activation("sign", function="sign")),
                  InputSpec("features", n_in))
    x = rng.choice([-1.0, 1.0], size=(64, steps, n_in))
    got = forward(model, x)
    th = fold_bn_threshold(bn, w0, k_bound=n_in)
    k = np.einsum("rj,btj->btr", w_int, x).astype(np.int64)
    for t in range(steps):
        np.testing.assert_array_equal(th.apply(k[:, t], t), got[:, t])
