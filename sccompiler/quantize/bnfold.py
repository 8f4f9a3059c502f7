"""Batch-norm folding: an inference batch norm after ``W·x`` becomes a per-row affine map, and,
for integer pre-activations, a per-row integer threshold.

Inference batch norm (per row ``r``, per time step ``t`` for recurrent batch norm with
per-time-step statistics, rows beyond the last stored step reuse the last one)::

    BN_t(a)_r = gamma_tr * (a_r - mean_tr) / sqrt(var_tr + eps) + beta_tr
              = s_tr * a_r + m_tr,   s = gamma / sqrt(var + eps),   m = beta - s * mean

so ``BN_t(W x) + b = s_t ⊙ (W x) + (m_t + b)``: a per-row scale and bias (:func:`fold_bn_affine`);
for float weights the scale can go into the rows of ``W`` (:func:`fold_bn_into_weights`).

**Integer thresholds.**  With binary/ternary weights ``W = w0 * Wint`` and binary/ternary/one-hot
inputs ``x = x0 * xint``, the pre-activation is ``a = alpha * k`` with ``alpha = w0 * x0`` and the
integer ``k = Wint · xint``.  Then, with ``c = m + b`` and ``sign(0) = +1``::

    sign(s*alpha*k + c) = +1  <=>  s*alpha*k >= -c
                              <=>  k >= ceil(-c / (s*alpha))    if s*alpha > 0
                              <=>  k <= floor(-c / (s*alpha))   if s*alpha < 0  (gamma < 0 flips)

which :class:`BNThreshold` stores as ``theta`` (int64) and ``direction = sign(s*alpha)``:
``out = sign(direction * (k - theta))`` with ``sign(0) = +1``.  A row with ``s*alpha == 0``
(gamma = 0) is the constant ``sign(c)``.  In real arithmetic the equivalence is exact.  In
float64 the threshold is exact for the predicate ``(s*(alpha*k) + m) + b >= 0`` evaluated in that
order: the closed-form estimate is corrected by evaluating the predicate next to it, which is
valid because rounded multiplication and addition are monotone.  (A float forward that computes
``alpha*k`` as a sum of products, as :mod:`sccompiler.reference` does, can differ from it only
where the batch-norm output is within a rounding error of 0.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import SCValueError
from ..ir.model import GRU, LSTM, BatchNormParams
from ..sim.rules import is_int, stats_row, stats_rows

#: |theta| sentinel for "always" / "never" rows when no k_bound is given (k itself must stay below)
UNBOUNDED = 2 ** 62


def bn_affine(bn: BatchNormParams) -> tuple[np.ndarray, np.ndarray]:
    """All-steps ``(s, m)`` with ``BN(a) = s*a + m``: shape ``(features,)`` or ``(steps, features)``.

    Computed with exactly the operations of :meth:`BatchNormParams.at`, so rows are bit-identical.
    """
    scale = bn.gamma / np.sqrt(bn.var + bn.eps)
    return scale, bn.beta - scale * bn.mean


def bn_affine_table(bn: BatchNormParams, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``(s, m)`` of shape ``(steps, features)``: row t is ``bn.at(t)`` (last row repeated)."""
    scale, shift = bn_affine(bn)
    if bn.per_step:
        idx = stats_rows(steps, scale.shape[0])
        return scale[idx], shift[idx]
    return (np.broadcast_to(scale, (steps, scale.size)), np.broadcast_to(shift, (steps, shift.size)))


@dataclass(frozen=True, eq=False)
class FoldedAffine:
    """``BN(W x) + b == scale * (W x) + bias`` per row; arrays ``(rows,)`` or ``(steps, rows)``."""

    scale: np.ndarray
    bias: np.ndarray

    def at(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scale, bias)`` at time step ``t`` (the last stored step repeats)."""
        if self.scale.ndim == 1:
            return self.scale, self.bias
        row = stats_row(t, self.scale.shape[0])
        return self.scale[row], self.bias[row]

    def apply(self, pre: np.ndarray, t: int = 0) -> np.ndarray:
        """Evaluate on a pre-activation ``W x`` of shape ``(..., rows)`` at step ``t``."""
        scale, bias = self.at(t)
        return scale * pre + bias


def _check_bias(bias, features: int) -> np.ndarray:
    if bias is None:
        return np.zeros(features)
    b = np.asarray(bias, dtype=np.float64)
    if b.shape != (features,):
        raise SCValueError("bias", f"shape {b.shape} does not match the batch norm's {features} features")
    return b


def fold_bn_affine(bn: BatchNormParams, bias=None) -> FoldedAffine:
    """Fold ``BN(W x) + bias`` into a per-row scale and bias (per time step when ``bn`` is)."""
    b = _check_bias(bias, bn.features)
    scale, shift = bn_affine(bn)
    return FoldedAffine(scale, shift + b)


def fold_bn_into_weights(weight, bn: BatchNormParams, bias=None,
                         t: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Float weights: ``BN_t(W x) + bias == W' x + b'`` with ``W' = s_t[:, None] * W`` and
    ``b' = m_t + bias``.  A per-time-step batch norm needs ``t``."""
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != bn.features:
        raise SCValueError("weight", f"shape {w.shape} needs {bn.features} rows (one per batch-norm feature)")
    if bn.per_step and t is None:
        raise SCValueError("t", "a per-time-step batch norm needs the time step to fold")
    b = _check_bias(bias, bn.features)
    scale, shift = bn.at(0 if t is None else int(t))
    return scale[:, None] * w, shift + b


@dataclass(frozen=True, eq=False)
class BNThreshold:
    """``sign(BN(alpha*k) + b) == sign(direction * (k - theta))`` (sign(0) = +1) for integer k.

    ``theta`` int64 and ``direction`` int8 (+1, or -1 where gamma*alpha < 0) have shape ``(rows,)``
    or ``(steps, rows)``.  Rows that are constant carry ``direction = +1`` and a theta below
    (always +1) or above (always -1) every admissible k.
    """

    theta: np.ndarray
    direction: np.ndarray
    k_bound: int | None = None

    def at(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        if self.theta.ndim == 1:
            return self.theta, self.direction
        row = stats_row(t, self.theta.shape[0])
        return self.theta[row], self.direction[row]

    def apply(self, k, t: int = 0) -> np.ndarray:
        """±1 (int8) for integer pre-activations ``k`` of shape ``(..., rows)`` at step ``t``."""
        theta, direction = self.at(t)
        k = np.asarray(k, dtype=np.int64)
        return np.where(direction * (k - theta) >= 0, 1, -1).astype(np.int8)


def fold_bn_threshold(bn: BatchNormParams, alpha, bias=None, *, t: int | None = None,
                      k_bound: int | None = None) -> BNThreshold:
    """Integer thresholds for ``sign(BN(alpha*k) + bias)`` (module docstring has the math).

    ``alpha``: the pre-activation's scale (scalar or per row), ``alpha*k`` being the real value.
    ``t``: fold one time step only; ``None`` folds every stored step of a per-step batch norm.
    ``k_bound``: if given, the admissible k are ``|k| <= k_bound`` (e.g. the fan-in for ±1
    operands) and thresholds are clipped to that range, so they fit ``ceil(log2(k_bound))+2`` bits.
    """
    if k_bound is not None and (not is_int(k_bound)
                                or not 0 <= k_bound < UNBOUNDED):
        raise SCValueError("k_bound", f"must be an int in [0, 2^62), got {k_bound!r}")
    a = np.asarray(alpha, dtype=np.float64)
    if not np.all(np.isfinite(a)) or np.any(a == 0):
        raise SCValueError("alpha", "must be finite and non-zero")
    b = _check_bias(bias, bn.features)
    if t is not None:
        scale, shift = bn.at(int(t))
    else:
        scale, shift = bn_affine(bn)
    scale, shift, a = np.broadcast_arrays(scale, shift, np.broadcast_to(a, scale.shape[-1:]))

    def positive(k: np.ndarray) -> np.ndarray:
        # the predicate in the reference's evaluation order; k is float64-exact below 2^53
        return (scale * (a * k) + shift) + b >= 0

    direction = (np.sign(scale) * np.sign(a)).astype(np.int8)
    const = direction == 0
    lo, hi = (-UNBOUNDED, UNBOUNDED) if k_bound is None else (-k_bound - 1, k_bound + 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = -(shift + b) / (scale * a)
        est = np.where(direction > 0, np.ceil(ratio), np.floor(ratio))
    est = np.clip(np.nan_to_num(est, nan=0.0, posinf=hi, neginf=lo), lo, hi)
    theta = est.astype(np.int64)
    # correct the float estimate: direction +1 wants the smallest k with positive(k),
    # direction -1 the largest; a few steps suffice (the estimate is off by at most one or two)
    for _ in range(64):
        kf = theta.astype(np.float64)
        up = np.where(direction > 0, ~positive(kf) & (theta < hi),
                      positive(kf + 1) & (theta < hi))
        down = np.where(direction > 0, positive(kf - 1) & (theta > lo),
                        ~positive(kf) & (theta > lo))
        up &= ~const
        down &= ~const
        if not (up.any() or down.any()):
            break
        theta = theta + up.astype(np.int64) - down.astype(np.int64)
    # constant rows: always +1 -> theta = lo (dir +1), always -1 -> theta = hi
    const_pos = (shift + b) >= 0
    theta = np.where(const, np.where(const_pos, lo, hi), theta)
    direction = np.where(const, 1, direction).astype(np.int8)
    if k_bound is not None:
        # keep thresholds inside the reachable range: [-k_bound, k_bound+1] (+1) or
        # [-k_bound-1, k_bound] (-1) without changing the function for |k| <= k_bound
        theta = np.where(direction > 0, np.clip(theta, -k_bound, k_bound + 1),
                         np.clip(theta, -k_bound - 1, k_bound))
    return BNThreshold(theta.astype(np.int64), direction, k_bound)


# ------------------------------------------------------------------------------ collapsing
def collapse_batchnorm(bn: BatchNormParams | None, mode: str) -> BatchNormParams | None:
    """The time-invariant batch norm a ``bn_steps`` mode uses for per-step statistics: ``last``
    = the last statistics row, ``mean`` = the mean over the rows of the folded per-step scale and
    shift (as an affine-equivalent BatchNormParams: gamma = scale, beta = shift, mean 0, var 1,
    eps 0).  ``tables`` and time-invariant batch norms are returned unchanged."""
    if bn is None or not bn.per_step or mode == "tables":
        return bn
    s, m = bn_affine_table(bn, bn.mean.shape[0])
    s, m = np.asarray(s), np.asarray(m)
    s, m = (s[-1], m[-1]) if mode == "last" else (s.mean(axis=0), m.mean(axis=0))
    return BatchNormParams(gamma=s, beta=m, mean=np.zeros_like(s), var=np.ones_like(s), eps=0.0)


def design_layer(layer, bn_steps: str):
    """``layer`` with every per-step batch norm collapsed as ``bn_steps`` says (see above)."""
    if bn_steps == "tables" or not isinstance(layer, (LSTM, GRU)):
        return layer
    changes = {f: collapse_batchnorm(b, bn_steps) for f, b in layer.batchnorms()}
    return dataclasses.replace(layer, **changes) if changes else layer
