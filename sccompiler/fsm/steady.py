"""Steady-state distributions of saturating-counter FSMs, vectorized over many input values.

* Binary input (linear FSM): pi_i = t^i (1-t)/(1-t^N), t = p/(1-p).  Evaluated in log space
  (log t = 2 artanh(x) for a bipolar x) and normalized by the largest term, so it is exact for
  N in the hundreds and for t -> 0 or infinity (x = -1 / +1 give the end states).
* Integral input: the chain s -> clamp(s + d, 0, N-1) with P(d) from the input model.  There is
  no closed form; we solve the balance equations (P^T - I) pi = 0 with one equation replaced by
  pinning the end state the drift points to (always recurrent, hence pi > 0 there, and the
  largest end, so nothing overflows).  P^T - I is banded (half-width = max |d|): each point is a
  LAPACK banded solve, O(N * M^2).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_banded

from ..errors import SCValueError
from ..sim.rules import check_int, fsm_reset_state
from .inputs import IncrementTable


def _check_states(states: int) -> int:
    return check_int("states", states, 2)


def binary_steady_state(x: np.ndarray, states: int) -> np.ndarray:
    """(G,) bipolar values in [-1, 1] -> (G, N) steady-state distribution of the linear FSM."""
    n = _check_states(states)
    x = np.asarray(x, dtype=float)
    if x.size and (np.any(~np.isfinite(x)) or np.abs(x).max() > 1.0):
        raise SCValueError("x", "bipolar input values must lie in [-1, 1]")
    with np.errstate(divide="ignore"):
        log_t = 2.0 * np.arctanh(x)
    # +-inf (x = +-1) -> a large finite slope: the distribution collapses onto one end state
    log_t = np.clip(log_t, -1e6, 1e6)
    z = np.arange(n)[None, :] * log_t[:, None]
    z -= z.max(axis=1, keepdims=True)
    pi = np.exp(z)
    return pi / pi.sum(axis=1, keepdims=True)


def chain_steady_state(table: IncrementTable, states: int, reset_state: int | None = None) -> np.ndarray:
    """Steady state of s -> clamp(s + d, 0, N-1), d ~ table.pmf[g], for every point g -> (G, N).

    A point whose increments are all zero keeps the counter at ``reset_state`` (default
    :func:`~sccompiler.sim.rules.fsm_reset_state`, N // 2).
    """
    n = _check_states(states)
    deltas = np.asarray(table.deltas, dtype=np.int64)
    pmf = np.asarray(table.pmf, dtype=float)
    g = pmf.shape[0]
    band = int(min(max(np.abs(deltas).max(initial=0), 1), n - 1))
    # banded storage of A = P^T - I: A[j, i] lives at ab[band + j - i, i]
    ab = np.zeros((g, 2 * band + 1, n))
    cols = np.arange(n)
    for k, d in enumerate(deltas):
        rows = np.clip(cols + d, 0, n - 1)
        np.add.at(ab, (slice(None), band + rows - cols, cols), pmf[:, k:k + 1])
    ab[:, band, :] -= 1.0

    drift = pmf @ deltas
    moves = pmf[:, deltas != 0].sum(axis=1)
    pi = np.zeros((g, n))
    rhs_top = np.zeros(n)
    rhs_top[-1] = 1.0
    rhs_bottom = np.zeros(n)
    rhs_bottom[0] = 1.0
    reset = fsm_reset_state(n) if reset_state is None else int(reset_state)
    for idx in range(g):
        if moves[idx] <= 0.0:
            pi[idx, reset] = 1.0
            continue
        a = ab[idx]
        pin = n - 1 if drift[idx] >= 0.0 else 0
        # replace row `pin` (balance equation of that state) by pi_pin = 1
        for off in range(-band, band + 1):
            col = pin - off
            if 0 <= col < n:
                a[band + off, col] = 0.0
        a[band, pin] = 1.0
        sol = solve_banded((band, band), a, rhs_top if pin == n - 1 else rhs_bottom,
                           overwrite_ab=True, check_finite=False)
        sol = np.maximum(sol, 0.0)
        pi[idx] = sol / sol.sum()
    return pi


def steady_state(table: IncrementTable, states: int) -> np.ndarray:
    """Dispatch: the closed form for +-1 increments, the chain solve otherwise."""
    d = np.asarray(table.deltas)
    if set(d.tolist()) <= {-1, 1}:
        p_up = table.pmf[:, list(d).index(1)] if 1 in d else np.zeros(len(table.pmf))
        return binary_steady_state(2.0 * p_up - 1.0, states)
    return chain_steady_state(table, states)


def transition_matrices(table: IncrementTable, states: int) -> np.ndarray:
    """Dense (G, N, N) row-stochastic matrices P[g, i, j] = P(s_{t+1} = j | s_t = i) (small N only)."""
    n = _check_states(states)
    pmf = np.asarray(table.pmf, dtype=float)
    mats = np.zeros((pmf.shape[0], n, n))
    cols = np.arange(n)
    for k, d in enumerate(np.asarray(table.deltas, dtype=np.int64)):
        np.add.at(mats, (slice(None), cols, np.clip(cols + d, 0, n - 1)), pmf[:, k:k + 1])
    return mats


def stream_statistics(table: IncrementTable, states: int, weights: np.ndarray, length: int,
                      reset_state: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and (large-L) standard deviation of ones/length of a weighted FSM's output.

    The mean sums E[y_t] = e_reset P^t w over t < length (the reset transient included); the
    spread uses the asymptotic variance of the output bit's time average (Markov-chain CLT):
    sigma^2 = sum pi w(1-w) + Var_pi(w) + 2 sum_{k>=1} Cov_pi(w(s_0), w(s_k)), from the
    fundamental matrix Z = (I - P + 1 pi^T)^-1.  Returns (mean, std), each (G,).
    """
    n = _check_states(states)
    w = np.asarray(weights, dtype=float)
    mats = transition_matrices(table, n)
    pis = steady_state(table, n)
    reset = fsm_reset_state(n) if reset_state is None else int(reset_state)
    means = np.empty(len(mats))
    stds = np.empty(len(mats))
    for g, (p, pi) in enumerate(zip(mats, pis)):
        dist = np.zeros(n)
        dist[reset] = 1.0
        total = 0.0
        for _ in range(int(length)):
            total += dist @ w
            dist = dist @ p
        means[g] = total / length
        centered = w - pi @ w
        z = np.linalg.inv(np.eye(n) - p + np.outer(np.ones(n), pi))
        var_markov = 2.0 * (pi * centered) @ (z @ centered) - (pi * centered) @ centered
        var = float(pi @ (w * (1.0 - w))) + max(float(var_markov), 0.0)
        stds[g] = np.sqrt(var / length)
    return means, stds
