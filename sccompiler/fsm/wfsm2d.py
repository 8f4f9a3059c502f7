"""Two-dimensional weighted FSM: two saturating counters on two decorrelated copies of the input,
and one output weight per pair of states (docs/semantics.md §5.6).

Each copy drives its own N-state linear FSM; the output is ``R'_t < Wq[s1_t, s2_t]``.  With
independent copies the two chains are independent, so the steady state of the pair is the product
pi_i(x) pi_j(x) of the linear FSM's (§5.2), and

    P(y = 1) = sum_ij W[i, j] pi_i(x) pi_j(x).

A symmetric table gives the same output (the two factors are exchangeable), so the synthesis fits
the N(N+1)/2 free weights W[i, j] = W[j, i] by the same LP/QP as the Bernstein coefficients
(minimax by default), quantizes them to b bits and refines them by one-unit moves.  The family
contains the degree-2 ReSC unit (N = 2: each state is one Bernoulli(p) sample) and every single
WFSM of N states (W[i, j] = w_i), so it realizes x^2 exactly and follows non-monotone targets
that a single counter cannot (abs(x): 0.0083 at N = 16 against 0.0133 for one counter).  N is a
power of two so that the table address is the concatenation {s1, s2} (RTL: ``sc_lut_sng``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import SCValueError, SynthesisError
from ..sim.rules import check_int, quantized_weights
from .bernstein import check_domain, refine_integer, solve_coefficients, target_values
from .steady import binary_steady_state
from .targets import Target, make_target

STATES = (2, 4, 8, 16, 32)


def pair_basis(x: np.ndarray, states: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(G, N(N+1)/2) basis of the symmetric table (pi_i pi_j + pi_j pi_i for i < j, pi_i^2 on the
    diagonal) and the index arrays (i, j) of its columns."""
    phi = binary_steady_state(np.asarray(x, dtype=float), states)
    i, j = np.triu_indices(states)
    basis = phi[:, i] * phi[:, j] * np.where(i == j, 1.0, 2.0)[None, :]
    return basis, i, j


@dataclass(frozen=True)
class Wfsm2dDesign:
    expression: str
    states: int
    weight_bits: int
    output: str
    domain: tuple[float, float]
    objective: str
    quantized_table: tuple[int, ...]   # N*N entries, row-major: entry s1 * N + s2
    analytic_rmse: float
    analytic_max_error: float
    unquantized_max_error: float
    clip: bool
    solver: str
    seconds: float
    input: str = "binary"
    target: Target | None = field(default=None, compare=False, repr=False)

    def output_value(self, x: np.ndarray) -> np.ndarray:
        phi = binary_steady_state(np.asarray(x, dtype=float), self.states)
        w = np.asarray(self.quantized_table, dtype=float).reshape(self.states, self.states) / (1 << self.weight_bits)
        p = np.einsum("gi,ij,gj->g", phi, w, phi)
        return 2.0 * p - 1.0 if self.output == "bipolar" else p

    def target_value(self, x: np.ndarray) -> np.ndarray:
        return target_values(self.target, np.asarray(x, dtype=float), self.output, self.clip)


def _design(tgt: Target, n: int, bits: int, output: str, domain, objective: str, grid: int,
            clip: bool) -> Wfsm2dDesign:
    t0 = time.perf_counter()
    x = np.linspace(domain[0], domain[1], grid)
    y = target_values(tgt, x, output, clip)
    q, scale = ((1.0 + y) / 2.0, 2.0) if output == "bipolar" else (y, 1.0)
    basis, i, j = pair_basis(x, n)
    rho = np.full(grid, 1.0)
    rho[0] = rho[-1] = 0.5
    rho /= rho.sum()
    c, solver = solve_coefficients(basis, q, rho, objective)
    qc = refine_integer(quantized_weights(c, bits), bits, basis, q, rho, objective)
    table = np.zeros((n, n), dtype=np.int64)
    table[i, j] = qc
    table[j, i] = qc
    r = q - basis @ (qc / (1 << bits))
    return Wfsm2dDesign(expression=tgt.description, states=n, weight_bits=bits, output=output, domain=tuple(domain),
                        objective=objective, quantized_table=tuple(int(v) for v in table.ravel()),
                        analytic_rmse=scale * math.sqrt(float(rho @ (r * r))),
                        analytic_max_error=scale * float(np.abs(r).max()),
                        unquantized_max_error=scale * float(np.abs(q - basis @ c).max()), clip=clip,
                        solver=solver, seconds=time.perf_counter() - t0, target=tgt)


def synthesize_wfsm2d(target, *, states: int | None = None, max_error: float | None = None,
                      weight_bits: int | None = 10, output: str = "bipolar", domain=None,
                      objective: str = "minimax", grid: int = 801, clip: bool = False,
                      max_states: int = 16) -> Wfsm2dDesign:
    """A two-dimensional WFSM for ``target`` (bipolar bit-stream input): give ``states`` (a power
    of two in 2..32) or ``max_error`` (the smallest such N, then -- with ``weight_bits=None`` -- the
    smallest b, whose analytic max error after quantization is <= max_error)."""
    if output not in ("bipolar", "unipolar"):
        raise SCValueError("output", f"expected bipolar or unipolar, got {output!r}")
    if objective not in ("minimax", "l2"):
        raise SCValueError("objective", f"expected minimax or l2, got {objective!r}")
    grid = check_int("grid", grid, 3, 100_000)
    dom = check_domain(domain, "binary")
    tgt = make_target(target)
    if max_states not in STATES:
        raise SCValueError("max_states", f"must be one of {STATES}, got {max_states!r}")
    if weight_bits is not None:
        weight_bits = check_int("weight_bits", weight_bits, 1, 16)
    if (states is None) == (max_error is None):
        raise SCValueError("states", "give exactly one of states or max_error")
    if states is not None:
        if states not in STATES:
            raise SCValueError("states", f"must be a power of two in {STATES} (the table address is {{s1, s2}}), "
                                         f"got {states!r}")
        return _design(tgt, states, 10 if weight_bits is None else weight_bits, output, dom, objective, grid, clip)
    if not (isinstance(max_error, (int, float)) and math.isfinite(max_error) and max_error > 0):
        raise SCValueError("max_error", f"must be a positive number, got {max_error!r}")
    b = 16 if weight_bits is None else weight_bits
    for n in (s for s in STATES if s <= max_states):
        d = _design(tgt, n, b, output, dom, objective, grid, clip)
        if d.analytic_max_error <= max_error:
            break
    else:
        raise SynthesisError(f"no two-dimensional WFSM with up to {max_states} states per counter and {b}-bit "
                             f"weights reaches max error {max_error:g} for {tgt.description!r} "
                             f"(best at N={d.states}: {d.analytic_max_error:.3g})")
    if weight_bits is None:
        for bb in range(1, 17):
            dd = _design(tgt, d.states, bb, output, dom, objective, grid, clip)
            if dd.analytic_max_error <= max_error:
                return dd
    return d
