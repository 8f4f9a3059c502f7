"""Benchmark: the issue's activation targets realized within max error 0.01, and synthesis time.

Part 1: for x**2, abs(x), a scaled GELU (gelu(3x)/3), a scaled SiLU (silu(4x)/4), the Gaussian
bump 2 exp(-9x^2) - 1 and a cubic, :func:`~sccompiler.fsm.realize.realize_activation` builds the
smallest WFSM (N <= 64), two-dimensional WFSM (N <= 16 per counter), Bernstein/ReSC unit
(degree <= --max-degree) and LUT+SNG (<= 12 address bits) meeting 0.01 analytically, costs each
(asic-generic gate equivalents, from a binary x to the output stream) and simulates each at
L = 1024 (33 points x 4 seeds).  ``bit max`` is the stream's error against the target; ``|z|``
the largest deviation of the 4-seed mean from the analytic output in binomial standard errors
(a few: the hardware follows its model to within stream noise; FSMs' autocorrelated outputs
spread more).

Part 2: synthesis time per realization for N / degree 4..64 (2-D WFSM: N <= 32 per counter) and
LUT address bits 4..12 (caches off).
Run: ``python bench/bench_realizations.py [--quick] [--max-degree D]``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ["SCC_FSM_CACHE"] = "0"  # never time a disk-cache hit

from sccompiler.fsm import clear_cache, synthesize_fsm  # noqa: E402
from sccompiler.fsm.bernstein import synthesize_bernstein  # noqa: E402
from sccompiler.fsm.lut import synthesize_lut  # noqa: E402
from sccompiler.fsm.realize import describe, realize_activation  # noqa: E402
from sccompiler.fsm.wfsm2d import synthesize_wfsm2d  # noqa: E402

TARGETS = {
    "x**2": "x**2",
    "abs(x)": "abs(x)",
    "GELU(3x)/3": "x*(1+erf(3*x/sqrt(2)))/2",
    "SiLU(4x)/4": "x*sigmoid(4*x)",
    "bump": "2*exp(-9*x**2)-1",
    "cubic": "x**3 - x/2",
}


def part1(max_degree: int, repeats: int) -> None:
    print("| target | chosen | WFSM | 2-D WFSM | ReSC | LUT+SNG |  (max error 0.01, L = 1024; per candidate: design, "
          "analytic max / bit max (4-seed mean) / |z|max, GE)")
    print("|---|---|---|---|---|---|")
    for label, expr in TARGETS.items():
        rep = realize_activation(expr, max_error=0.01, length=1024, max_degree=max_degree, repeats=repeats)
        cells = []
        for c in rep.candidates:
            s = c.simulated
            ok = "" if c.meets else " (not met)"
            cells.append(f"{describe(c)}: {c.analytic_max_error:.4f}{ok} / {s['max_error']:.3f} "
                         f"({s['mean_max_error']:.3f}) / {s['z_max']:.1f}, {c.cost['gate_equivalents']:.0f} GE")
        chosen = f"{rep.chosen.kind}" if rep.chosen else "none"
        print(f"| {label} | {chosen} | " + " | ".join(cells) + " |")


def part2(quick: bool) -> None:
    sizes = (4, 16, 64) if quick else (4, 8, 16, 32, 64)
    expr = "x*(1+erf(3*x/sqrt(2)))/2"
    print(f"\nsynthesis time for {expr} (s, caches off)")
    print("| N or degree | WFSM l2 | WFSM minimax | ReSC minimax | ReSC l2 | 2-D WFSM minimax |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        row = []
        for fn in (lambda: synthesize_fsm(expr, states=n, weight_bits=10),
                   lambda: synthesize_fsm(expr, states=n, weight_bits=10, objective="minimax"),
                   lambda: synthesize_bernstein(expr, degree=n, coefficient_bits=10),
                   lambda: synthesize_bernstein(expr, degree=n, coefficient_bits=10, objective="l2"),
                   lambda: synthesize_wfsm2d(expr, states=min(n, 32), weight_bits=10, max_states=32)):
            clear_cache()
            t0 = time.perf_counter()
            fn()
            row.append(f"{time.perf_counter() - t0:.3f}")
        print(f"| {n} | " + " | ".join(row) + " |")
    print("| LUT address bits | 4 | 8 | 12 |\n|---|---|---|---|")
    row = []
    for k in (4, 8, 12):
        t0 = time.perf_counter()
        synthesize_lut(expr, address_bits=k, table_bits=10)
        row.append(f"{time.perf_counter() - t0:.3f}")
    print("| time (s) | " + " | ".join(row) + " |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--max-degree", type=int, default=128)
    args = ap.parse_args()
    part1(args.max_degree, 2 if args.quick else 4)
    part2(args.quick)


if __name__ == "__main__":
    main()
