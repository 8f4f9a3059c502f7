"""Bernstein-polynomial (ReSC) combinational synthesis (docs/activations.md, docs/semantics.md §5.4).

A ReSC unit of degree n (Qian & Riedel) computes, from n independent copies of the input stream
(P(1) = p each) and n+1 constant coefficient streams (P(1) = b_k), the Bernstein polynomial

    P(y = 1) = B(p) = sum_k b_k C(n, k) p^k (1 - p)^(n - k),

because the adder of the copies' bits, k_t, is Binomial(n, p) and selects coefficient k_t.  Any
continuous q: [0, 1] -> [0, 1] is approximated uniformly as n grows; a polynomial of degree <= n
whose Bernstein coefficients lie in [0, 1] is reproduced exactly.

The encodings are explicit: the input stream probability is p = (x + 1)/2 for a bipolar input
(``input="binary"``, x in [-1, 1], the WFSM's input) or p = x (``input="unipolar"``, x in [0, 1]);
the target probability is q = (1 + y)/2 for a bipolar output, q = y for a unipolar one.  Errors are
in the OUTPUT VALUE domain (bipolar: 2 x the probability error), as for WFSMs.

Coefficients: ``objective="minimax"`` (default) solves min_b max_g |q_g - B_g b| (an LP, HiGHS
then CLARABEL) and ``"l2"`` min_b sum_g rho_g (q_g - B_g b)^2 (a QP, CLARABEL then OSQP), both in
cvxpy with 0 <= b <= 1; then b is quantized to the coefficient SNGs' width,
Bq = floor(b 2^w + 1/2) in [0, 2^w], and the integer vector is refined by one-unit coordinate
moves on the same (unregularized) objective.  The basis rows sum to 1, so quantization adds at
most 2^-(w+1) in probability.  The analytic error is that of the quantized coefficients with
independent copies and exact input probabilities; the bit-level simulator (:mod:`sccompiler.sim.resc`)
adds stream noise, finite-period sources and the copies' residual correlation.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import ExpressionError, SCValueError, SynthesisError
from ..sim.rules import check_int, quantized_weights
from . import cache as _cache
from .targets import Target, make_target

INPUTS = ("binary", "unipolar")
OUTPUTS = ("bipolar", "unipolar")
OBJECTIVES = ("minimax", "l2")
MAX_DEGREE = 256
MAX_COEFFICIENT_BITS = 16
RANGE_TOLERANCE = 1e-9


def input_probability(x: np.ndarray, input: str) -> np.ndarray:  # noqa: A002 - mirrors --input
    """The input stream's P(1): (x+1)/2 for a bipolar (``binary``) input, x for a unipolar one."""
    x = np.asarray(x, dtype=float)
    return (x + 1.0) / 2.0 if input == "binary" else x


def input_range(input: str) -> tuple[float, float]:  # noqa: A002
    return (-1.0, 1.0) if input == "binary" else (0.0, 1.0)


def bernstein_basis(p: np.ndarray, degree: int) -> np.ndarray:
    """(G, n+1) basis C(n,k) p^k (1-p)^(n-k) = P(Binomial(n, p) = k) at each p."""
    from scipy.stats import binom  # noqa: PLC0415

    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    return binom.pmf(np.arange(degree + 1)[None, :], degree, p[:, None])


@dataclass(frozen=True)
class BernsteinDesign:
    """A degree-n ReSC unit and its analytic accuracy (quantized coefficients: what hardware does)."""

    expression: str
    degree: int
    input: str
    output: str
    domain: tuple[float, float]
    objective: str
    coefficients: tuple[float, ...]
    coefficient_bits: int
    quantized_coefficients: tuple[int, ...]
    analytic_rmse: float
    analytic_max_error: float
    unquantized_rmse: float
    unquantized_max_error: float
    grid: int
    clip: bool
    solver: str
    seconds: float
    cached: bool = False
    key: str = ""
    target: Target | None = field(default=None, compare=False, repr=False)

    @property
    def realized_coefficients(self) -> np.ndarray:
        return np.asarray(self.quantized_coefficients, dtype=float) / (1 << self.coefficient_bits)

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(y = 1) at inputs x (quantized coefficients, independent copies)."""
        return bernstein_basis(input_probability(x, self.input), self.degree) @ self.realized_coefficients

    def output_value(self, x: np.ndarray) -> np.ndarray:
        p = self.probability(x)
        return 2.0 * p - 1.0 if self.output == "bipolar" else p

    def target_value(self, x: np.ndarray) -> np.ndarray:
        return target_values(self.target, np.asarray(x, dtype=float), self.output, self.clip)


def output_range(output: str) -> tuple[float, float]:
    return (-1.0, 1.0) if output == "bipolar" else (0.0, 1.0)


def target_values(target: Target, x: np.ndarray, output: str, clip: bool) -> np.ndarray:
    """The target on x, checked finite and inside the output range (or clipped with ``clip``)."""
    y = target(x)
    bad = ~np.isfinite(y)
    if np.any(bad):
        raise ExpressionError(f"target {target.description!r} is not finite at x = {x[bad][0]:.6g}")
    lo, hi = output_range(output)
    over = max(float(np.max(y - hi)), float(np.max(lo - y)), 0.0)
    if over > RANGE_TOLERANCE and not clip:
        at = x[np.argmax(np.maximum(y - hi, lo - y))]
        raise ExpressionError(
            f"target {target.description!r} leaves the {output} output range [{lo:g}, {hi:g}] by up to "
            f"{over:.4g} (at x = {at:.4g}); rescale it, or pass clip=True (--clip) to clip it")
    return np.clip(y, lo, hi)


def check_domain(domain, input: str) -> tuple[float, float]:  # noqa: A002
    lo, hi = input_range(input)
    if domain is None:
        return (lo, hi)
    if (len(domain) != 2 or not all(math.isfinite(float(v)) for v in domain)
            or not float(domain[0]) < float(domain[1])):
        raise SCValueError("domain", f"need LO < HI, got {domain!r}")
    d = (float(domain[0]), float(domain[1]))
    if d[0] < lo or d[1] > hi:
        raise SCValueError("domain", f"{d} exceeds the range [{lo:g}, {hi:g}] of a {input} input")
    return d


def solve_coefficients(basis: np.ndarray, q: np.ndarray, rho: np.ndarray, objective: str) -> tuple[np.ndarray, str]:
    import cvxpy as cp  # noqa: PLC0415

    from .synth import LP_SOLVERS, QP_SOLVERS, quiet_stdout  # noqa: PLC0415  (the pinned solver lists)

    c = cp.Variable(basis.shape[1])
    if objective == "minimax":
        s = cp.Variable()
        r = q - basis @ c
        prob = cp.Problem(cp.Minimize(s), [r <= s, -r <= s, c >= 0, c <= 1])
        solvers = LP_SOLVERS
    else:
        sq = np.sqrt(rho)
        prob = cp.Problem(cp.Minimize(cp.sum_squares(sq[:, None] * basis @ c - sq * q) * 1e4),
                          [c >= 0, c <= 1])
        solvers = QP_SOLVERS
    failures = []
    for name in solvers:
        if name not in cp.installed_solvers():
            failures.append(f"{name}: not installed")
            continue
        try:
            with quiet_stdout(), warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "may be inaccurate": the status is checked
                prob.solve(solver=name)
        except (cp.error.SolverError, ArithmeticError, ValueError) as exc:
            failures.append(f"{name}: {exc}")
            continue
        if prob.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and c.value is not None:
            return np.clip(np.asarray(c.value, dtype=float), 0.0, 1.0), name
        failures.append(f"{name}: status {prob.status}")
    raise SynthesisError("no solver could solve the Bernstein coefficient problem: " + "; ".join(failures))


def _errors(basis, q, rho, c, scale) -> tuple[float, float]:
    r = q - basis @ c
    return scale * math.sqrt(max(float(rho @ (r * r)), 0.0)), scale * float(np.max(np.abs(r)))


def refine_integer(qc: np.ndarray, bits: int, basis: np.ndarray, q: np.ndarray, rho: np.ndarray, objective: str,
            max_sweeps: int = 64) -> np.ndarray:
    """One-unit coordinate descent over the integers 0..2^bits on the unquantized objective."""
    top = 1 << bits
    step = 1.0 / top
    qc = qc.astype(np.int64).copy()
    resid = q - basis @ (qc * step)

    def score(r: np.ndarray) -> float:
        return float(np.abs(r).max()) if objective == "minimax" else float(rho @ (r * r))

    best = score(resid)
    for _ in range(max_sweeps):
        improved = False
        for i in range(len(qc)):
            for sgn in (1, -1):
                new = qc[i] + sgn
                if not 0 <= new <= top:
                    continue
                trial = resid - sgn * step * basis[:, i]
                val = score(trial)
                if val < best - 1e-15:
                    qc[i], resid, best, improved = new, trial, val, True
                    break
        if not improved:
            break
    return qc


def synthesize_bernstein(target, *, degree: int | None = None, max_error: float | None = None,
                         input: str = "binary", output: str = "bipolar",  # noqa: A002
                         domain: tuple[float, float] | None = None, coefficient_bits: int | None = 10,
                         objective: str = "minimax", grid: int = 1001, clip: bool = False,
                         max_degree: int = MAX_DEGREE) -> BernsteinDesign:
    """Bernstein coefficients of a degree-n ReSC unit approximating ``target`` (see the module doc).

    Give ``degree`` or ``max_error`` (the smallest n -- and, with ``coefficient_bits=None``, the
    smallest coefficient width -- whose analytic max error after quantization is <= max_error).
    """
    start = time.perf_counter()
    if input not in INPUTS:
        raise SCValueError("input", f"a ReSC unit takes a bit-stream input, one of {INPUTS}, got {input!r}"
                                    + (" (integral inputs: use the WFSM)" if str(input).startswith("integral")
                                       else ""))
    if output not in OUTPUTS:
        raise SCValueError("output", f"expected one of {OUTPUTS}, got {output!r}")
    if objective not in OBJECTIVES:
        raise SCValueError("objective", f"expected one of {OBJECTIVES}, got {objective!r}")
    grid = check_int("grid", grid, 3, 100_000)
    max_degree = check_int("max_degree", max_degree, 1, 256)
    dom = check_domain(domain, input)
    tgt = make_target(target)
    if (degree is None) == (max_error is None):
        raise SCValueError("degree", "give exactly one of degree or max_error")
    if coefficient_bits is not None:
        coefficient_bits = check_int("coefficient_bits", coefficient_bits, 1, MAX_COEFFICIENT_BITS)
    common = dict(input=input, output=output, domain=dom, objective=objective, grid=grid, clip=bool(clip))
    if degree is not None:
        degree = check_int("degree", degree, 1, max_degree)
        design = _cached(tgt, degree=degree, bits=10 if coefficient_bits is None else coefficient_bits, **common)
    else:
        if not (isinstance(max_error, (int, float)) and math.isfinite(max_error) and max_error > 0):
            raise SCValueError("max_error", f"must be a positive number, got {max_error!r}")
        design = _search(tgt, float(max_error), coefficient_bits, max_degree, common)
    return design if design.cached else replace(design, seconds=time.perf_counter() - start)


def _search(tgt: Target, max_error: float, bits: int | None, max_degree: int, common: dict) -> BernsteinDesign:
    """Smallest degree meeting max_error: doubling then bisection (the unquantized optimum is
    non-increasing in n: degree elevation keeps coefficients in [0, 1])."""
    b = MAX_COEFFICIENT_BITS if bits is None else bits
    lo, n = 0, 1
    while True:
        d = _cached(tgt, degree=n, bits=b, **common)
        if d.analytic_max_error <= max_error:
            best = d
            break
        lo = n
        if n >= max_degree:
            raise SynthesisError(
                f"no Bernstein (ReSC) unit of degree <= {max_degree} with {b}-bit coefficients reaches max "
                f"error {max_error:g} for {tgt.description!r} (best at n={n}: {d.analytic_max_error:.3g})")
        n = min(2 * n, max_degree)
    hi = best.degree
    while hi - lo > 1:
        mid = (lo + hi) // 2
        d = _cached(tgt, degree=mid, bits=b, **common)
        if d.analytic_max_error <= max_error:
            hi, best = mid, d
        else:
            lo = mid
    if bits is None:
        for bb in range(1, MAX_COEFFICIENT_BITS + 1):
            d = _cached(tgt, degree=best.degree, bits=bb, **common)
            if d.analytic_max_error <= max_error:
                return d
    return best


_RECORD = ("degree", "objective", "coefficients", "coefficient_bits", "quantized_coefficients", "analytic_rmse",
           "analytic_max_error", "unquantized_rmse", "unquantized_max_error", "solver", "seconds")


def _cached(tgt: Target, *, degree: int, bits: int, input: str, output: str, domain, objective: str,  # noqa: A002
            grid: int, clip: bool) -> BernsteinDesign:
    x = np.linspace(domain[0], domain[1], grid)
    key = _cache.cache_key(dict(realization="bernstein", target=tgt.key(x), degree=degree, bits=bits, input=input,
                                output=output, domain=list(domain), objective=objective, grid=grid, clip=clip))
    base = dict(expression=tgt.description, input=input, output=output, domain=tuple(domain), grid=grid, clip=clip,
                key=key, target=tgt)
    hit = _cache.memory_get(key)
    if hit is not None:
        return replace(hit, cached=True, target=tgt, expression=tgt.description)
    rec = _cache.disk_get(key)
    if rec is not None:
        try:
            kw = {f: rec[f] for f in _RECORD}
            kw["coefficients"] = tuple(float(v) for v in kw["coefficients"])
            kw["quantized_coefficients"] = tuple(int(v) for v in kw["quantized_coefficients"])
            if kw["degree"] != degree or len(kw["coefficients"]) != degree + 1 \
                    or len(kw["quantized_coefficients"]) != degree + 1:
                raise ValueError("record does not match")
            design = BernsteinDesign(**kw, **base, cached=True)
            _cache.memory_put(key, design)
            return design
        except (KeyError, TypeError, ValueError):
            pass  # another version's or a damaged entry: recompute
    t0 = time.perf_counter()
    y = target_values(tgt, x, output, clip)
    q, scale = ((1.0 + y) / 2.0, 2.0) if output == "bipolar" else (y, 1.0)
    basis = bernstein_basis(input_probability(x, input), degree)
    rho = np.full(grid, 1.0)
    rho[0] = rho[-1] = 0.5
    rho /= rho.sum()
    c, solver = solve_coefficients(basis, q, rho, objective)
    qc = refine_integer(quantized_weights(c, bits), bits, basis, q, rho, objective)
    rmse_q, max_q = _errors(basis, q, rho, qc / (1 << bits), scale)
    rmse_f, max_f = _errors(basis, q, rho, c, scale)
    design = BernsteinDesign(degree=degree, objective=objective, coefficients=tuple(float(v) for v in c),
                             coefficient_bits=bits, quantized_coefficients=tuple(int(v) for v in qc),
                             analytic_rmse=rmse_q, analytic_max_error=max_q, unquantized_rmse=rmse_f,
                             unquantized_max_error=max_f, solver=solver, seconds=time.perf_counter() - t0, **base)
    _cache.memory_put(key, design)
    _cache.disk_put(key, {f: (list(v) if isinstance(v := getattr(design, f), tuple) else v) for f in _RECORD})
    return design
