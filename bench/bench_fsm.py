"""Benchmark: WFSM synthesis time for N = 8..256 on a 2001-point grid (goal: N = 64 in < 0.5 s).

For each N it times ``synthesize_fsm`` (L2 and minimax; caches off) and, as the baseline measured
in the same run, the textbook formulation: cvxpy's sum_squares over the full grid (G x N) with the
same solver.  It prints both times, their ratio, and the accuracy of the design against Stanh on
Stanh's own target tanh(N x / 2).  Run: ``python bench/bench_fsm.py [--quick]``.
"""

from __future__ import annotations

import os
import sys
import time

os.environ["SCC_FSM_CACHE"] = "0"  # never time a disk-cache hit

import numpy as np  # noqa: E402

from sccompiler.fsm import binary_steady_state, clear_cache, synthesize_fsm  # noqa: E402

GRID = 2001


def naive_full_grid_qp(states: int, target) -> float:
    """The baseline: min ||sqrt(rho) (Phi w - p)||^2 over the whole grid, straight into cvxpy."""
    import cvxpy as cp

    x = np.linspace(-1, 1, GRID)
    rho = np.full(GRID, 1.0 / (GRID - 1))
    rho[[0, -1]] /= 2
    start = time.perf_counter()
    phi = binary_steady_state(x, states)
    p = (1 + target(x)) / 2
    w = cp.Variable(states)
    sq = np.sqrt(rho)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(cp.multiply(sq, phi @ w - p))), [w >= 0, w <= 1])
    prob.solve(solver="CLARABEL")
    return time.perf_counter() - start


def timed(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        clear_cache()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    sizes = [8, 16, 32, 64] if quick else [8, 16, 32, 64, 128, 256]
    repeats = 1 if quick else 3
    synthesize_fsm("tanh(x)", states=4)  # import and solver warm-up outside the timings
    print(f"WFSM synthesis on a {GRID}-point grid, best of {repeats} (seconds); baseline = full-grid cvxpy QP")
    print(f"{'N':>4} {'l2 [s]':>8} {'minimax[s]':>10} {'naive[s]':>9} {'naive/l2':>9} | "
          f"{'rmse':>9} {'Stanh rmse':>10} {'max(mm)':>9} {'Stanh max':>9}")
    for n in sizes:
        expr = f"tanh({n}*x/2)"
        t_l2 = timed(lambda: synthesize_fsm(expr, states=n, grid=GRID), repeats)
        t_mm = timed(lambda: synthesize_fsm(expr, states=n, grid=GRID, objective="minimax"), repeats)
        t_naive = min(naive_full_grid_qp(n, lambda x: np.tanh(n * x / 2)) for _ in range(repeats))
        l2 = synthesize_fsm(expr, states=n, grid=GRID)
        mm = synthesize_fsm(expr, states=n, grid=GRID, objective="minimax")
        print(f"{n:>4} {t_l2:>8.3f} {t_mm:>10.3f} {t_naive:>9.3f} {t_naive / t_l2:>8.1f}x | "
              f"{l2.analytic_rmse:>9.2e} {l2.baseline.analytic_rmse:>10.2e} "
              f"{mm.analytic_max_error:>9.2e} {mm.baseline.analytic_max_error:>9.2e}")
        if n == 64:
            verdict = "meets" if t_l2 < 0.5 else "MISSES"
            print(f"     N = 64 L2 synthesis {t_l2:.3f} s: {verdict} the 0.5 s goal")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
