"""Reference semantics of every SC primitive, on unpacked numpy arrays, plus expectation mode.

Stream functions take bool arrays shaped (..., L) (cycles last) and loop over cycles in plain
numpy: they are the readable definition (and the numpy per-cycle baseline of bench/bench_sim.py);
the fast paths live in :mod:`.kernels` and :mod:`.packed`.  ``p_*`` / ``*_steady_state`` give
exact probabilities for analysis ("expectation mode"): independent operands are assumed.
"""

from __future__ import annotations

import numpy as np

from ..errors import SCValueError
from .encoding import check_range
from .rules import check_int, fsm_reset_state, stanh_threshold, stanh_weights, unsigned_width


# ----------------------------------------------------------------------------- streams
def sng(r: np.ndarray, x: np.ndarray) -> np.ndarray:
    """bit_t = R_t < X (broadcasting)."""
    return np.asarray(r) < np.asarray(x)


def not_(a: np.ndarray) -> np.ndarray:
    return ~np.asarray(a, dtype=bool)


def and_(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=bool) & np.asarray(b, dtype=bool)


def or_(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=bool) | np.asarray(b, dtype=bool)


def xor_(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=bool) ^ np.asarray(b, dtype=bool)


def xnor_(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ~xor_(a, b)


def mux(sel: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """out = sel ? a : b."""
    s = np.asarray(sel, dtype=bool)
    return np.where(s, np.asarray(a, dtype=bool), np.asarray(b, dtype=bool))


def apc(*streams: np.ndarray) -> np.ndarray:
    """Parallel counter: k_t = number of ones among the M streams this cycle (int64)."""
    if not streams:
        raise SCValueError("streams", "APC needs at least one input stream")
    return np.sum([np.asarray(s, dtype=np.int64) for s in streams], axis=0)


def bipolar_apc(*streams: np.ndarray) -> np.ndarray:
    """Bipolar integral value d_t = 2 k_t - M."""
    return 2 * apc(*streams) - len(streams)


def up_counter(bits: np.ndarray) -> np.ndarray:
    """c <- c + bit_t from 0: the number of ones (final value)."""
    return np.asarray(bits, dtype=np.int64).sum(axis=-1)


def counter_width(length: int) -> int:
    """Bits of an up counter that counts ``length`` ones without overflow: ceil(log2(L + 1)),
    the unsigned width of L (:func:`~sccompiler.sim.rules.unsigned_width`; 0 for L = 0)."""
    n = check_int("length", length, 0)
    return unsigned_width(n) if n else 0


def updown_counter(steps: np.ndarray, reset: int = 0, lo: int | None = None,
                   hi: int | None = None) -> np.ndarray:
    """c <- clamp(c + d_t, lo, hi) from ``reset``; d is 2 bit - 1 for a binary stream (pass
    ``bits_to_steps``) or an integral stream.  Returns the trajectory (..., L + 1)."""
    d = np.asarray(steps, dtype=np.int64)
    lo_v = -np.inf if lo is None else lo
    hi_v = np.inf if hi is None else hi
    if lo is not None and hi is not None and lo > hi:
        raise SCValueError("lo", f"lower bound {lo} exceeds upper bound {hi}")
    out = np.empty(d.shape[:-1] + (d.shape[-1] + 1,), dtype=np.int64)
    c = np.full(d.shape[:-1], reset, dtype=np.int64)
    out[..., 0] = c
    for t in range(d.shape[-1]):
        c = np.clip(c + d[..., t], lo_v, hi_v).astype(np.int64)
        out[..., t + 1] = c
    return out


def bits_to_steps(bits: np.ndarray) -> np.ndarray:
    """Binary stream -> +-1 steps (2 bit - 1)."""
    return 2 * np.asarray(bits, dtype=np.int64) - 1


def fsm_states(steps: np.ndarray, nstates: int, reset: int | None = None) -> np.ndarray:
    """States s_t at the START of each cycle of the saturating FSM s <- clamp(s + d, 0, N-1).

    A linear (binary-input) FSM is the case d = 2 bit - 1; ``reset`` defaults to
    :func:`~sccompiler.sim.rules.fsm_reset_state` (N // 2).  Returns (..., L) int64.
    """
    n = check_int("states", nstates, 2)
    r = fsm_reset_state(n) if reset is None else check_int("reset_state", reset, 0, n - 1)
    traj = updown_counter(steps, r, 0, n - 1)
    return traj[..., :-1]


def stanh_output(states: np.ndarray, nstates: int) -> np.ndarray:
    """Stanh as a state decode (no weight source): y = s >= N/2.  Even N only: an odd N's middle
    state has Stanh weight 1/2 (:func:`~sccompiler.sim.rules.stanh_weights`), which a decode
    cannot realize, so odd N raises SCValueError (use a weighted FSM: :func:`weighted_output`
    with the quantized Stanh weights)."""
    return np.asarray(states) >= stanh_threshold(nstates)


def weighted_output(states: np.ndarray, wq: np.ndarray, r_weight: np.ndarray) -> np.ndarray:
    """y_t = R'_t < Wq[s_t]."""
    return np.asarray(r_weight) < np.asarray(wq)[np.asarray(states)]


def weight_rom_program(wq, weight_bits: int, state_bits: int):
    """The weight ROM ``Wq[s]`` as a shared tree of 2:1 muxes on the state bits (a BDD).

    Registers: 0 = constant 0, 1 = constant 1, ``2 + 2k`` = state bit k, ``3 + 2k`` = its
    complement, then one register per instruction.  Each instruction ``(dst, k, a, b)`` computes
    ``dst = a if s_k else b``.  Returns (instructions (K, 4) int64, output register of each of
    the ``weight_bits + 1`` weight bits, register count).  States >= len(wq) are unreachable and
    treated as don't-care; identical sub-trees are shared across bits.  Used by the bit-sliced
    kernel (one SIMD pass per mux) and available to RTL generation.
    """
    wq = [int(v) for v in np.asarray(wq)]
    n = len(wq)
    instrs: list[tuple[int, int, int, int]] = []
    memo: dict[tuple[int, int, int], int] = {}

    def node(bit: int, k: int, prefix: int) -> int | None:
        if k < 0:
            return None if prefix >= n else (wq[prefix] >> bit) & 1
        f0 = node(bit, k - 1, prefix)
        f1 = node(bit, k - 1, prefix | (1 << k))
        if f1 is None or f1 == f0:
            return f0
        if f0 is None:
            return f1
        if (f0, f1) == (0, 1):
            return 2 + 2 * k
        if (f0, f1) == (1, 0):
            return 3 + 2 * k
        key = (k, f0, f1)
        if key not in memo:
            memo[key] = 2 + 2 * state_bits + len(instrs)
            instrs.append((memo[key], k, f1, f0))
        return memo[key]

    outs = [node(j, state_bits - 1, 0) for j in range(weight_bits + 1)]
    prog = np.asarray(instrs, dtype=np.int64).reshape(-1, 4)
    out_regs = np.asarray([0 if o is None else o for o in outs], dtype=np.int64)
    return prog, out_regs, 2 + 2 * state_bits + len(instrs)


def sign(values: np.ndarray, threshold: int = 0) -> np.ndarray:
    """Threshold/sign of a binary counter value: 1 where value >= threshold."""
    return np.asarray(values) >= threshold


# ----------------------------------------------------------------------------- expectation mode
def p_not(pa):
    return 1.0 - np.asarray(pa, dtype=np.float64)


def p_and(pa, pb):
    return np.asarray(pa, dtype=np.float64) * pb


def p_or(pa, pb):
    pa = np.asarray(pa, dtype=np.float64)
    return pa + pb - pa * pb


def p_xor(pa, pb):
    pa = np.asarray(pa, dtype=np.float64)
    return pa + pb - 2.0 * pa * pb


def p_xnor(pa, pb):
    return 1.0 - p_xor(pa, pb)


def p_mux(ps, pa, pb):
    ps = np.asarray(ps, dtype=np.float64)
    return ps * pa + (1.0 - ps) * pb


def apc_distribution(ps) -> np.ndarray:
    """Poisson-binomial pmf of k (number of ones) for independent bits with P = ps[..., m]."""
    p = np.asarray(ps, dtype=np.float64)
    pmf = np.zeros(p.shape[:-1] + (p.shape[-1] + 1,))
    pmf[..., 0] = 1.0
    for m in range(p.shape[-1]):
        pm = p[..., m:m + 1]
        shifted = np.concatenate([np.zeros(pmf.shape[:-1] + (1,)), pmf[..., :-1]], axis=-1)
        pmf = pmf * (1.0 - pm) + shifted * pm
    return pmf


def apc_step_pmf(ps) -> tuple[np.ndarray, int]:
    """pmf of d = 2k - M over consecutive integers -M..M (odd offsets are 0) and min_step = -M."""
    k_pmf = apc_distribution(ps)
    m = k_pmf.shape[-1] - 1
    pmf = np.zeros(k_pmf.shape[:-1] + (2 * m + 1,))
    pmf[..., ::2] = k_pmf
    return pmf, -m


def linear_fsm_steady_state(p, nstates: int) -> np.ndarray:
    """pi_i = t^i (1 - t) / (1 - t^N), t = p / (1 - p) (uniform at t = 1); shape (..., N).

    Computed in log space (and mirrored for t > 1) so that p near 0 or 1 does not overflow.
    """
    n = check_int("states", nstates, 2)
    p = check_range(p, 0.0, 1.0, "p")[..., None]
    i = np.arange(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_t = np.log(p) - np.log1p(-p)
        # weights t^(i - imax) keep every term <= 1
        shift = np.where(log_t > 0, n - 1, 0)
        logw = np.where(np.isfinite(log_t), (i - shift) * log_t, np.nan)
        w = np.exp(logw)
    w = np.where(p == 0.0, (i == 0).astype(float), w)
    w = np.where(p == 1.0, (i == n - 1).astype(float), w)
    return w / w.sum(axis=-1, keepdims=True)


def integer_fsm_steady_state(step_pmf, nstates: int, min_step: int) -> np.ndarray:
    """Stationary distribution of s <- clamp(s + d, 0, N-1) with P(d = min_step + k) = pmf[k].

    Solved as the N-state Markov chain (least squares on pi P = pi, sum pi = 1).
    """
    n = check_int("states", nstates, 2)
    pmf = np.asarray(step_pmf, dtype=np.float64)
    trans = np.zeros((n, n))
    for s in range(n):
        for k, q in enumerate(pmf):
            trans[s, min(max(s + min_step + k, 0), n - 1)] += q
    a = np.vstack([trans.T - np.eye(n), np.ones((1, n))])
    b = np.zeros(n + 1)
    b[-1] = 1.0
    pi, *_ = np.linalg.lstsq(a, b, rcond=None)
    return np.clip(pi, 0.0, None) / np.clip(pi, 0.0, None).sum()


def fsm_output_probability(pi: np.ndarray, weights) -> np.ndarray:
    """P(y = 1) = sum_i w_i pi_i."""
    return np.asarray(pi) @ np.asarray(weights, dtype=np.float64)


def stanh_bipolar(x, nstates: int) -> np.ndarray:
    """Steady-state bipolar Stanh output for bipolar input x: tanh((N/2) artanh x) for even N;
    for odd N (middle state weight 1/2) an odd function of x close to it."""
    p = (check_range(x, -1.0, 1.0, "x") + 1.0) / 2.0
    pi = linear_fsm_steady_state(p, nstates)
    return 2.0 * fsm_output_probability(pi, stanh_weights(nstates)) - 1.0
