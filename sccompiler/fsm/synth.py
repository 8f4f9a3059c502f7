"""Weighted-FSM synthesis by convex optimization (docs/background.md §3).

Given a target y = T(x), an input model (what the counter sees per cycle) and N states, choose
per-state output weights w in [0, 1] so that the steady-state output P(y=1) = sum_i w_i pi_i(x)
matches the target's stream probability (p = (1+y)/2 bipolar, p = y unipolar):

* ``objective="l2"``: minimize sum_g rho_g (p_g - Phi_g w)^2, a QP (CLARABEL, falling back to
  OSQP then SCS).  It is reduced to N rows first (QR of sqrt(rho) Phi, i.e. the square root of the
  N x N Gram matrix G = Phi^T diag(rho) Phi), so its cost does not depend on the grid size, and
  scaled so the solver's tolerances resolve residuals ~1e-10; an interior-point answer is then
  polished by an exact least-squares solve on its free set.
* ``objective="minimax"``: minimize max_g |p_g - Phi_g w|, an LP (HiGHS, falling back to CLARABEL).

G is badly conditioned (cond ~1e14 at N=16: columns of Phi are nearly dependent), so the L2
problem adds ``lam * (||diff(w)||^2 + 0.01 ||w||^2)`` with ``lam = regularization * tr(G)/N``
(unique, smoother weights); the LP adds ``regularization * ||diff(w)||_1`` on the problem scaled
so that a reference point's max error is 1.  Condition numbers and lam are reported.  The default
1e-10 is small enough never to cost accuracy that matters (a Stanh-shaped optimum at N=256 has a
residual ~1e-12, which lam = 1e-8 would already spoil).

Weights are then quantized to b bits, Wq = round(w 2^b) in [0, 2^b], and the integer vector is
re-optimized by coordinate descent on the *unregularized* objective, seeded both from the rounded
optimum and from the Stanh design (a feasible integer point), keeping the better.

Errors are reported in the OUTPUT VALUE domain (bipolar y = 2P - 1 in [-1, 1], or unipolar
y = P): ``rmse`` is the density-weighted (uniform by default, trapezoid rule) root mean square of
target - output, ``max_error`` the largest |target - output| over the points with rho > 0.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Sequence

import numpy as np
from threadpoolctl import ThreadpoolController

from ..errors import ExpressionError, SCValueError, SynthesisError

# Brown-Card Stanh (0 / 1 in the lower / upper half, 1/2 in an odd N's middle state): the one
# table of sccompiler.sim.rules, re-exported (fsm.stanh_weights is public API)
from ..sim.rules import check_int, stanh_weights
from . import cache as _cache
from .inputs import GRID_MODELS, BinaryInput, InputModel, parse_input
from .steady import steady_state
from .targets import Target, make_target

#: default solvers (pinned) and fallbacks, tried in order
QP_SOLVERS = ("CLARABEL", "OSQP", "SCS")
LP_SOLVERS = ("HIGHS", "CLARABEL")
DEFAULT_REGULARIZATION = 1e-10
MAX_STATES = 256
MAX_WEIGHT_BITS = 16
OUTPUTS = ("bipolar", "unipolar")
OBJECTIVES = ("l2", "minimax")
#: tolerance on the output range check (float noise of e.g. tanh at the edges)
RANGE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Baseline:
    """The reference design with the same N and input: Stanh (binary) or IStanh (integral)."""

    name: str
    weights: tuple[float, ...]
    analytic_rmse: float
    analytic_max_error: float


@dataclass(frozen=True)
class FSMDesign:
    """A synthesized weighted FSM and its analytic (steady-state) accuracy.

    ``analytic_rmse``/``analytic_max_error`` are those of the QUANTIZED weights (what hardware
    realizes), in the output value domain; ``unquantized_*`` those of the float optimum.
    """

    expression: str
    states: int
    input: InputModel
    output: str
    domain: tuple[float, float]
    objective: str
    weights: tuple[float, ...]
    weight_bits: int
    quantized_weights: tuple[int, ...]
    analytic_rmse: float
    analytic_max_error: float
    unquantized_rmse: float
    unquantized_max_error: float
    baseline: Baseline
    regularization: float
    gram_condition: float
    regularized_condition: float
    monotone: str | None
    grid: int
    clip: bool
    solver: str
    seconds: float
    cached: bool = False
    key: str = ""
    target: Target | None = field(default=None, compare=False, repr=False)
    density: object = field(default=None, compare=False, repr=False)

    @property
    def realized_weights(self) -> np.ndarray:
        """The per-state output probabilities the hardware realizes: Wq / 2^b."""
        return np.asarray(self.quantized_weights, dtype=float) / (1 << self.weight_bits)

    def evaluation_points(self) -> np.ndarray:
        return _fit_problem(self.target, self.input, self.states, self.domain, self.grid,
                            self.density, self.output, self.clip).x

    def output_value(self, x: np.ndarray | None = None, weights: Sequence[float] | None = None) -> np.ndarray:
        """Analytic steady-state output value (bipolar or unipolar) at ``x`` (default: the fit points).

        Sample-based input models (Poisson-binomial, empirical) only have their samples: x must be None.
        """
        w = self.realized_weights if weights is None else np.asarray(weights, dtype=float)
        if x is None:
            phi = _fit_problem(self.target, self.input, self.states, self.domain, self.grid,
                               self.density, self.output, self.clip).phi
        else:
            if not isinstance(self.input, GRID_MODELS):
                raise SCValueError("x", f"input model {self.input.name} is defined on its samples only")
            phi = steady_state(self.input.increments(np.asarray(x, dtype=float)), self.states)
        p = phi @ w
        return 2.0 * p - 1.0 if self.output == "bipolar" else p

    def target_value(self, x: np.ndarray) -> np.ndarray:
        y = self.target(np.asarray(x, dtype=float))
        lo, hi = _output_range(self.output)
        return np.clip(y, lo, hi) if self.clip else y


# ---------------------------------------------------------------------------------------------
# the fit problem: points, density, Phi, target probabilities


@dataclass(frozen=True)
class FitProblem:
    x: np.ndarray          # (G,) evaluation points (represented input values)
    rho: np.ndarray        # (G,) quadrature weights, sum 1
    phi: np.ndarray        # (G, N) steady-state distributions
    p: np.ndarray          # (G,) target stream probabilities
    scale: float           # output value error = scale * probability error


def _output_range(output: str) -> tuple[float, float]:
    return (-1.0, 1.0) if output == "bipolar" else (0.0, 1.0)


_PHI_CACHE: dict = {}


def _phi(model: InputModel, states: int, domain: tuple[float, float], grid: int) -> tuple[np.ndarray, np.ndarray]:
    key = (model.key(), states, domain, grid)
    hit = _PHI_CACHE.get(key)
    if hit is None:
        if isinstance(model, GRID_MODELS):
            table = model.increments(np.linspace(domain[0], domain[1], grid))
        else:
            table = model.increments(None)
        hit = (table.x, steady_state(table, states))
        if len(_PHI_CACHE) >= 8:  # up to 4 MB each at N = 256
            _PHI_CACHE.clear()
        _PHI_CACHE[key] = hit
    return hit


def _fit_problem(target: Target, model: InputModel, states: int, domain: tuple[float, float], grid: int,
                 density, output: str, clip: bool) -> FitProblem:
    x, phi = _phi(model, states, domain, grid)
    if isinstance(model, GRID_MODELS):
        rho = np.full(len(x), 1.0)
        if len(x) > 1:  # trapezoid rule on the uniform grid
            rho[0] = rho[-1] = 0.5
    else:
        rho = np.ones(len(x))
    if density is not None:
        dens = density(x) if callable(density) else density
        dens = np.broadcast_to(np.asarray(dens, dtype=float), x.shape)
        if not np.all(np.isfinite(dens)) or np.any(dens < 0) or dens.sum() <= 0:
            raise SCValueError("density", "must be finite, non-negative and not all zero on the grid")
        rho = rho * dens
    rho = rho / rho.sum()
    y = target(x)
    bad = ~np.isfinite(y)
    if np.any(bad):
        raise ExpressionError(f"target {target.description!r} is not finite at x = {x[bad][0]:.6g}")
    lo, hi = _output_range(output)
    over = max(float(np.max(y - hi)), float(np.max(lo - y)), 0.0)
    if over > RANGE_TOLERANCE and not clip:
        at = x[np.argmax(np.maximum(y - hi, lo - y))]
        raise ExpressionError(
            f"target {target.description!r} leaves the {output} output range [{lo:g}, {hi:g}] by up to "
            f"{over:.4g} (at x = {at:.4g}, range of the target [{y.min():.4g}, {y.max():.4g}] on the domain "
            f"[{domain[0]:g}, {domain[1]:g}]); rescale it, or pass clip=True (--clip) to clip it")
    y = np.clip(y, lo, hi)
    if output == "bipolar":
        return FitProblem(x, rho, phi, (1.0 + y) / 2.0, 2.0)
    return FitProblem(x, rho, phi, y, 1.0)


def _errors(prob: FitProblem, w: np.ndarray) -> tuple[float, float]:
    r = prob.p - prob.phi @ w
    rmse = prob.scale * math.sqrt(max(float(prob.rho @ (r * r)), 0.0))
    mx = prob.scale * float(np.max(np.abs(r[prob.rho > 0]))) if r.size else 0.0
    return rmse, mx


# ---------------------------------------------------------------------------------------------
# convex solves


def _monotone_constraints(cp, w, monotone: str | None):
    if monotone == "increasing":
        return [cp.diff(w) >= 0]
    if monotone == "decreasing":
        return [cp.diff(w) <= 0]
    return []


def _solve_qp(design: np.ndarray, rhs: np.ndarray, monotone: str | None, solver: str | None) -> tuple[np.ndarray, str]:
    """min ||design w - rhs||^2, 0 <= w <= 1 (+ monotone); ``design`` is small ((3N-1) x N)."""
    import cvxpy as cp  # noqa: PLC0415

    n = design.shape[1]
    # scale so that a feasible point has objective ~1: the excess residuals we resolve are ~1e-10,
    # far below the solvers' absolute tolerances otherwise
    w0 = np.clip(np.linalg.lstsq(design, rhs, rcond=None)[0], 0.0, 1.0)
    scale = 1.0 / math.sqrt(max(float(np.sum((design @ w0 - rhs) ** 2)), 1e-30))
    scale = min(scale, 1e6)
    # plain constants, no DPP parameters: compiling a parametrized (3N x N) product costs more
    # than it saves for one-shot solves
    w = cp.Variable(n)
    prob = cp.Problem(cp.Minimize(cp.sum_squares((design * scale) @ w - rhs * scale)),
                      [w >= 0, w <= 1, *_monotone_constraints(cp, w, monotone)])
    return _run(prob, w, (solver,) if solver else QP_SOLVERS)


def _solve_lp(phi: np.ndarray, p: np.ndarray, mask: np.ndarray, lam: float, monotone: str | None,
              solver: str | None) -> tuple[np.ndarray, str]:
    """min max_g |p_g - phi_g w| + lam ||diff(w)||_1, 0 <= w <= 1 (+ monotone)."""
    import cvxpy as cp  # noqa: PLC0415

    # scale rows so that the max error of a feasible point is ~1 (HiGHS' feasibility tolerance is 1e-7)
    ref = np.clip(np.linalg.lstsq(phi[mask], p[mask], rcond=None)[0], 0.0, 1.0)
    scale = min(1.0 / max(float(np.max(np.abs(phi[mask] @ ref - p[mask]))), 1e-12), 1e4)
    a = phi[mask] * scale
    t = p[mask] * scale
    w = cp.Variable(a.shape[1])
    s = cp.Variable()
    resid = t - a @ w
    prob = cp.Problem(cp.Minimize(s + lam * cp.norm1(cp.diff(w))),
                      [resid <= s, -resid <= s, w >= 0, w <= 1, *_monotone_constraints(cp, w, monotone)])
    return _run(prob, w, (solver,) if solver else LP_SOLVERS)


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence native solver banners (HiGHS prints one from C++ on fd 1) so ``--json`` stays clean."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):  # no real fd 1 (embedded interpreters): nothing to protect
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _run(prob, w, solvers: Sequence[str]) -> tuple[np.ndarray, str]:
    import cvxpy as cp  # noqa: PLC0415

    failures = []
    for name in solvers:
        if name not in cp.installed_solvers():
            failures.append(f"{name}: not installed")
            continue
        try:
            with quiet_stdout():
                prob.solve(solver=name)
        except (cp.error.SolverError, ArithmeticError, ValueError) as exc:
            failures.append(f"{name}: {exc}")
            continue
        if prob.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and w.value is not None:
            return np.clip(np.asarray(w.value, dtype=float), 0.0, 1.0), name
        failures.append(f"{name}: status {prob.status}")
    raise SynthesisError("no solver could solve the weight optimization: " + "; ".join(failures))


def _polish_box_qp(design: np.ndarray, rhs: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, bool]:
    """Re-solve the least-squares problem on the free set the solver found (interior-point answers
    carry slack ~ their tolerance); kept only if it stays feasible and lowers the objective."""
    free = (w > 1e-7) & (w < 1 - 1e-7)
    fixed_vals = np.where(w > 0.5, 1.0, 0.0)
    cand = np.where(free, 0.0, fixed_vals)
    if free.any():
        sol = np.linalg.lstsq(design[:, free], rhs - design @ cand, rcond=None)[0]
        if np.any(sol < 0) or np.any(sol > 1):
            return w, False
        cand[free] = sol
    def obj(v: np.ndarray) -> float:
        return float(np.sum((design @ v - rhs) ** 2))
    return (cand, True) if obj(cand) < obj(w) else (w, False)


# ---------------------------------------------------------------------------------------------
# integer refinement of the quantized weights


def _refine_integer(q: np.ndarray, bits: int, prob: FitProblem, gram: np.ndarray, lin: np.ndarray,
                    objective: str, monotone: str | None, max_sweeps: int = 64) -> np.ndarray:
    """Coordinate descent over the integers 0..2^b (one-unit moves) on the unregularized objective."""
    top = 1 << bits
    step = 1.0 / top
    q = q.astype(np.int64).copy()
    n = len(q)

    def allowed(i: int, new: int) -> bool:
        if not 0 <= new <= top:
            return False
        if monotone == "increasing":
            return (i == 0 or q[i - 1] <= new) and (i == n - 1 or new <= q[i + 1])
        if monotone == "decreasing":
            return (i == 0 or q[i - 1] >= new) and (i == n - 1 or new >= q[i + 1])
        return True

    def sweep(gain_of: Callable[[int, int], bool]) -> bool:
        """One pass of single-unit moves; ``gain_of(i, sgn)`` applies the move if it helps."""
        improved = False
        for i in range(n):
            for sgn in (1, -1):
                if allowed(i, q[i] + sgn) and gain_of(i, sgn):
                    improved = True
                    break
        return improved

    if objective == "l2":
        grad = gram @ (q * step) - lin
        diag = np.diag(gram)

        def l2_move(i: int, sgn: int) -> bool:
            nonlocal grad
            d = sgn * step
            if d * d * diag[i] + 2 * d * grad[i] < -1e-18:
                q[i] += sgn
                grad = grad + d * gram[:, i]
                return True
            return False

        for _ in range(max_sweeps):
            if sweep(l2_move):
                continue
            # no single move helps: take the best pair move (+-1, +-1), which escapes the
            # ridges of the ill-conditioned quadratic where single moves stall
            best_gain, best_move = -1e-18, None
            for si in (1, -1):
                row_ok = (q + si >= 0) & (q + si <= top)
                for sj in (1, -1):
                    col_ok = (q + sj >= 0) & (q + sj <= top)
                    di, dj = si * step, sj * step
                    gain = (di * di * diag[:, None] + dj * dj * diag[None, :] + 2 * di * dj * gram
                            + 2 * di * grad[:, None] + 2 * dj * grad[None, :])
                    gain[~row_ok, :] = np.inf
                    gain[:, ~col_ok] = np.inf
                    np.fill_diagonal(gain, np.inf)
                    i, j = np.unravel_index(np.argmin(gain), gain.shape)
                    if gain[i, j] < best_gain:
                        best_gain, best_move = gain[i, j], (i, j, si, sj)
            if best_move is None:
                break
            i, j, si, sj = best_move
            q[i] += si
            q[j] += sj
            if monotone is not None and not (allowed(i, q[i]) and allowed(j, q[j])):
                q[i] -= si
                q[j] -= sj
                break
            grad = grad + si * step * gram[:, i] + sj * step * gram[:, j]
        return q

    mask = prob.rho > 0
    phi = prob.phi[mask]
    resid = prob.p[mask] - phi @ (q * step)
    best = float(np.abs(resid).max())

    def minimax_move(i: int, sgn: int) -> bool:
        nonlocal resid, best
        trial = resid - sgn * step * phi[:, i]
        val = float(np.abs(trial).max())
        if val < best - 1e-15:
            q[i] += sgn
            resid, best = trial, val
            return True
        return False

    for _ in range(max_sweeps):
        if not sweep(minimax_move):
            break
    return q


# ---------------------------------------------------------------------------------------------
# public API


def _resolve_monotone(monotone, prob: FitProblem) -> str | None:
    if monotone in (False, None):
        return None
    if monotone in ("increasing", "decreasing"):
        return monotone
    if monotone is True:  # follow the target's overall trend
        return "increasing" if prob.p[-1] >= prob.p[0] else "decreasing"
    raise SCValueError("monotone", f"expected a bool, 'increasing' or 'decreasing', got {monotone!r}")


def _density_key(density, x: np.ndarray) -> str | None:
    if density is None:
        return None
    vals = density(x) if callable(density) else density
    import hashlib  # noqa: PLC0415

    return hashlib.sha256(np.ascontiguousarray(np.asarray(vals, dtype=float)).tobytes()).hexdigest()


def synthesize_fsm(
    target: "str | Callable[[np.ndarray], np.ndarray] | Target",
    *,
    states: int | None = None,
    max_error: float | None = None,
    input: "str | InputModel" = "binary",  # noqa: A002 -- mirrors the CLI's --input
    output: str = "bipolar",
    domain: tuple[float, float] | None = None,
    weight_bits: int | None = 8,
    objective: str = "l2",
    regularization: float = DEFAULT_REGULARIZATION,
    monotone: "bool | str" = False,
    grid: int = 2001,
    density=None,
    solver: str | None = None,
    clip: bool = False,
    max_states: int = MAX_STATES,
) -> FSMDesign:
    """Synthesize per-state weights of an N-state saturating-counter FSM approximating ``target``.

    ``target``: an expression in x (parsed safely, see :mod:`.targets`) or a vectorized callable,
    in the OUTPUT value domain (bipolar [-1, 1] by default, unipolar [0, 1]).  ``input``:
    ``"binary"``, ``"integral:M"`` (binomial model) or an input model.  ``domain`` defaults to the
    encoding's range ([-1, 1] binary, [-M, M] integral).  Give ``states`` or ``max_error`` (the
    smallest N -- and, if ``weight_bits`` is None, the smallest b -- whose analytic max error after
    quantization is <= max_error).  Errors are density-weighted (uniform by default) in the output
    value domain.  Results are cached by their inputs (see :mod:`.cache`).
    """
    start = time.perf_counter()
    model = parse_input(input)
    if output not in OUTPUTS:
        raise SCValueError("output", f"expected one of {OUTPUTS}, got {output!r}")
    if objective not in OBJECTIVES:
        raise SCValueError("objective", f"expected one of {OBJECTIVES}, got {objective!r}")
    grid = check_int("grid", grid, 3, 1_000_000)
    max_states = check_int("max_states", max_states, 2, 4096)
    if not (isinstance(regularization, (int, float)) and math.isfinite(regularization) and regularization >= 0):
        raise SCValueError("regularization", f"must be a finite number >= 0, got {regularization!r}")
    enc_lo, enc_hi = model.domain
    if domain is None:
        domain = (enc_lo, enc_hi)
    else:
        if (len(domain) != 2 or not all(math.isfinite(float(v)) for v in domain)
                or not float(domain[0]) < float(domain[1])):
            raise SCValueError("domain", f"need LO < HI, got {domain!r}")
        domain = (float(domain[0]), float(domain[1]))
        if domain[0] < enc_lo or domain[1] > enc_hi:
            raise SCValueError("domain", f"{domain} exceeds the range [{enc_lo:g}, {enc_hi:g}] that input "
                                         f"{model.name} can represent")
    if not isinstance(model, GRID_MODELS) and domain != (enc_lo, enc_hi):
        raise SCValueError("domain", f"input model {model.name} is evaluated on its samples; omit domain")
    tgt = make_target(target)
    if (states is None) == (max_error is None):
        raise SCValueError("states", "give exactly one of states or max_error")
    if weight_bits is not None:
        weight_bits = check_int("weight_bits", weight_bits, 1, MAX_WEIGHT_BITS)
    common = dict(model=model, output=output, domain=domain, objective=objective, regularization=float(regularization),
                  monotone=monotone, grid=grid, density=density, solver=solver, clip=bool(clip))
    if states is not None:
        states = check_int("states", states, 2, max_states)
        design = _synthesize_cached(tgt, states=states, weight_bits=8 if weight_bits is None else weight_bits, **common)
    else:
        if not (isinstance(max_error, (int, float)) and max_error > 0 and math.isfinite(max_error)):
            raise SCValueError("max_error", f"must be a positive number, got {max_error!r}")
        design = _search_states(tgt, max_error=float(max_error), weight_bits=weight_bits,
                                max_states=max_states, **common)
    if design.cached:
        return design
    return replace(design, seconds=time.perf_counter() - start)


def _search_states(tgt: Target, *, max_error: float, weight_bits: int | None, max_states: int,
                   **common) -> FSMDesign:
    """Smallest N meeting max_error: doubling, then bisection (assumes error non-increasing in N,
    which holds for the nested-in-practice families we fit; the result always meets the bound)."""
    bits = MAX_WEIGHT_BITS if weight_bits is None else weight_bits

    def attempt(n: int) -> FSMDesign:
        return _synthesize_cached(tgt, states=n, weight_bits=bits, **common)

    best: FSMDesign | None = None
    lo, n = 1, 2
    while True:
        d = attempt(n)
        if d.analytic_max_error <= max_error:
            best = d
            break
        lo = n
        if n >= max_states:
            raise SynthesisError(
                f"no FSM with up to {max_states} states and {bits}-bit weights reaches max error {max_error:g} "
                f"for {tgt.description!r} (best at N={n}: {d.analytic_max_error:.3g}); relax --max-error "
                f"(the search stops at {max_states} states) or use --objective minimax")
        n = min(2 * n, max_states)
    hi = best.states
    while hi - lo > 1:
        mid = (lo + hi) // 2
        d = attempt(mid)
        if d.analytic_max_error <= max_error:
            hi, best = mid, d
        else:
            lo = mid
    if weight_bits is None:  # smallest b that still meets the bound at this N
        for b in range(1, MAX_WEIGHT_BITS + 1):
            d = _synthesize_cached(tgt, states=best.states, weight_bits=b, **common)
            if d.analytic_max_error <= max_error:
                return d
    return best


_BLAS: list[ThreadpoolController] = []


def _blas_controller() -> ThreadpoolController:
    """One controller per process: building it scans the loaded libraries (~10 ms)."""
    if not _BLAS:
        _BLAS.append(ThreadpoolController())
    return _BLAS[0]


def _synthesize_cached(tgt: Target, *, model: InputModel, states: int, output: str, domain, weight_bits: int,
                       objective: str, regularization: float, monotone, grid: int, density, solver: str | None,
                       clip: bool) -> FSMDesign:
    x_probe = np.linspace(domain[0], domain[1], grid)
    parts = dict(target=tgt.key(x_probe), input=model.key(), states=states, output=output, domain=list(domain),
                 weight_bits=weight_bits, objective=objective, regularization=regularization,
                 monotone=str(monotone), grid=grid, density=_density_key(density, x_probe), solver=solver, clip=clip)
    key = _cache.cache_key(parts)
    hit = _cache.memory_get(key)
    if hit is not None:
        return replace(hit, cached=True, target=tgt, density=density, expression=tgt.description)
    rec = _cache.disk_get(key)
    if rec is not None:
        try:
            design = _from_record(rec, tgt, model, density, key, states)
            _cache.memory_put(key, design)
            return replace(design, cached=True)
        except (KeyError, TypeError, ValueError, OverflowError):
            pass  # an entry from another version or a damaged one: recompute
    t0 = time.perf_counter()
    # the problems are small (grid x N): a multi-threaded BLAS only adds fork/join and spinning,
    # measured 0.2 ms vs 40-220 ms per QR of a 401 x 33 matrix on a loaded 2-core machine
    with _blas_controller().limit(limits=1, user_api="blas"):
        design = _synthesize(tgt, model=model, states=states, output=output, domain=domain, weight_bits=weight_bits,
                             objective=objective, regularization=regularization, monotone=monotone, grid=grid,
                             density=density, solver=solver, clip=clip)
    design = replace(design, key=key, seconds=time.perf_counter() - t0)
    _cache.memory_put(key, design)
    _cache.disk_put(key, _to_record(design))
    return design


_RECORD_FIELDS = ("expression", "states", "output", "objective", "weights", "weight_bits", "quantized_weights",
                  "analytic_rmse", "analytic_max_error", "unquantized_rmse", "unquantized_max_error",
                  "regularization", "gram_condition", "regularized_condition", "monotone", "grid", "clip",
                  "solver", "seconds", "key")


def _to_record(d: FSMDesign) -> dict:
    rec = {f: getattr(d, f) for f in _RECORD_FIELDS}
    rec["domain"] = list(d.domain)
    rec["baseline"] = {"name": d.baseline.name, "weights": list(d.baseline.weights),
                       "analytic_rmse": d.baseline.analytic_rmse, "analytic_max_error": d.baseline.analytic_max_error}
    rec["weights"] = list(d.weights)
    rec["quantized_weights"] = [int(v) for v in d.quantized_weights]
    return rec


def _from_record(rec: dict, tgt: Target, model: InputModel, density, key: str | None = None,
                 states: int | None = None) -> FSMDesign:
    """An FSMDesign from a disk record; ValueError for a record that does not fit the request
    (another key, wrong number of weights, non-finite values): the caller recomputes."""
    kw = {f: rec[f] for f in _RECORD_FIELDS}
    kw["weights"] = tuple(float(v) for v in kw["weights"])
    kw["quantized_weights"] = tuple(int(v) for v in kw["quantized_weights"])
    n = kw["states"]
    if (key is not None and kw["key"] != key) or (states is not None and n != states) \
            or not isinstance(n, int) or len(kw["weights"]) != n or len(kw["quantized_weights"]) != n \
            or not all(np.isfinite(kw["weights"])):
        raise ValueError("cache record does not match the request")
    kw["expression"] = tgt.description   # the current request's text, never the cached one
    b = rec["baseline"]
    return FSMDesign(input=model, domain=tuple(rec["domain"]), target=tgt, density=density,
                     baseline=Baseline(b["name"], tuple(b["weights"]), b["analytic_rmse"], b["analytic_max_error"]),
                     **kw)


def _synthesize(tgt: Target, *, model: InputModel, states: int, output: str, domain, weight_bits: int,
                objective: str, regularization: float, monotone, grid: int, density, solver: str | None,
                clip: bool) -> FSMDesign:
    prob = _fit_problem(tgt, model, states, domain, grid, density, output, clip)
    mono = _resolve_monotone(monotone, prob)
    n = states
    # the L2 fit on the grid, reduced to N rows: sqrt(rho) Phi = Q R, so that
    # ||sqrt(rho)(Phi w - p)||^2 = ||R w - Q^T sqrt(rho) p||^2 + const  (grid size no longer matters)
    sq = np.sqrt(prob.rho)
    # one R-only QR of [sqrt(rho) Phi | sqrt(rho) p]: its last column is Q^T sqrt(rho) p
    r_aug = np.linalg.qr(np.column_stack([sq[:, None] * prob.phi, sq * prob.p]), mode="r")
    r_mat, z = r_aug[:n, :n], r_aug[:n, n]
    gram = r_mat.T @ r_mat
    lin = r_mat.T @ z
    diff = np.diff(np.eye(n), axis=0)
    penalty = np.vstack([diff, 0.1 * np.eye(n)])
    lam = regularization * float(np.trace(gram)) / n
    cond = float(np.linalg.cond(gram))
    cond_reg = float(np.linalg.cond(gram + lam * penalty.T @ penalty))

    if objective == "l2":
        design = np.vstack([r_mat, math.sqrt(lam) * penalty])
        rhs = np.concatenate([z, np.zeros(len(penalty))])
        w, used = _solve_qp(design, rhs, mono, solver)
        if mono is None:
            w, polished = _polish_box_qp(design, rhs, w)
            if polished:
                used += "+polish"
        lam_reported = lam
    else:
        w, used = _solve_lp(prob.phi, prob.p, prob.rho > 0, regularization, mono, solver)
        lam_reported = regularization

    top = 1 << weight_bits
    stanh = stanh_weights(n)

    def score(q: np.ndarray) -> float:
        rmse, mx = _errors(prob, q / top)
        return rmse if objective == "l2" else mx

    seeds = [np.rint(w * top)]
    stanh_q = np.rint(stanh * top)
    if mono != "decreasing":
        seeds.append(stanh_q)
    candidates = [_refine_integer(s, weight_bits, prob, gram, lin, objective, mono) for s in seeds]
    q = min(candidates, key=score)
    rmse_q, max_q = _errors(prob, q / top)
    rmse_f, max_f = _errors(prob, w)
    b_rmse, b_max = _errors(prob, stanh)
    base_name = ("Stanh" if isinstance(model, BinaryInput) else "IStanh") + ("" if n % 2 == 0 else " (odd N)")
    return FSMDesign(
        expression=tgt.description, states=n, input=model, output=output, domain=tuple(domain), objective=objective,
        weights=tuple(float(v) for v in w), weight_bits=weight_bits, quantized_weights=tuple(int(v) for v in q),
        analytic_rmse=rmse_q, analytic_max_error=max_q, unquantized_rmse=rmse_f, unquantized_max_error=max_f,
        baseline=Baseline(base_name, tuple(float(v) for v in stanh), b_rmse, b_max),
        regularization=lam_reported, gram_condition=cond, regularized_condition=cond_reg, monotone=mono,
        grid=grid, clip=clip, solver=used, seconds=0.0, target=tgt, density=density)
