"""Bit-level accuracy of a synthesized FSM, measured with the cycle-accurate simulator.

The analytic error of a design is its steady-state error; a stream of finite length L adds a bias
(the start-up transient from the reset state) and variance (the autocorrelated output).  This
module runs :func:`sccompiler.sim.simulate_fsm` on evenly spaced input values, ``repeats`` times
with different seeds, and reports, in the output value domain:

* ``rmse`` / ``max_error``: simulated output vs the TARGET over all points and repeats (what a
  user of the hardware sees);
* ``bias_rms``: RMS over points of (expected simulated - analytic steady state), estimated from the
  repeats with their sampling noise subtracted (0 when the bias is below that noise);
* ``std_rms``: RMS over points of the standard deviation across repeats;
* the same ``rmse`` / ``max_error`` for the baseline (Stanh / IStanh) at the same length.

Input SNGs default to leap-forward LFSRs (``source="lfsr"``; plain one-step LFSRs are serially
correlated and break FSMs, docs/background.md §3).  Points are weighted uniformly here, whatever the density.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SCValueError
from ..sim.rules import check_int, stanh_weights
from .inputs import (
    BinaryInput,
    BinomialInput,
    EmpiricalInput,
    IncrementTable,
    PoissonBinomialInput,
    poisson_binomial_pmf,
)
from .steady import steady_state
from .synth import FSMDesign

SOURCES = ("lfsr", "sobol", "ideal")


@dataclass(frozen=True)
class SimulatedError:
    """Bit-level error of a design (and its baseline) at stream length ``length``."""

    length: int
    source: str
    width: int
    repeats: int
    x: tuple[float, ...]
    mean_output: tuple[float, ...]
    analytic_output: tuple[float, ...]
    rmse: float
    max_error: float
    bias_rms: float
    std_rms: float
    baseline_rmse: float
    baseline_max_error: float
    baseline_mean_output: tuple[float, ...]


def _bias_rms(sim: np.ndarray, analytic: np.ndarray) -> float:
    """RMS over points of E[simulated] - analytic, with the sampling noise of the mean removed:
    E[(mean_R - a)^2] = bias^2 + var/R, so subtract the per-point variance estimate / R."""
    sq = (sim.mean(axis=0) - analytic) ** 2
    if sim.shape[0] > 1:
        sq = sq - sim.var(axis=0, ddof=1) / sim.shape[0]
    return float(np.sqrt(max(float(np.mean(sq)), 0.0)))


def _simulator():
    try:
        from ..sim import simulate_fsm  # noqa: PLC0415 -- built concurrently; import when needed
    except ImportError as exc:
        from ..errors import SimulationError  # noqa: PLC0415

        raise SimulationError(
            f"the bit-level simulator (sccompiler.sim.simulate_fsm) is not available: {exc}") from None
    return simulate_fsm


def simulation_inputs(design: FSMDesign, points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(represented x (B,), simulator inputs (B,) or (B, M), steady states (B, N)) for ``points`` points."""
    model = design.input
    if isinstance(model, BinaryInput):
        x = np.linspace(design.domain[0], design.domain[1], points)
        inputs = x
    elif isinstance(model, BinomialInput):
        x = np.linspace(design.domain[0], design.domain[1], points)
        inputs = np.repeat((x / model.operands)[:, None], model.operands, axis=1)
    elif isinstance(model, PoissonBinomialInput):
        ops = model.array
        idx = np.unique(np.linspace(0, len(ops) - 1, min(points, len(ops))).round().astype(int))
        inputs = ops[idx]
        x = inputs.sum(axis=1)
        m = inputs.shape[1]
        table = IncrementTable(x, 2 * np.arange(m + 1) - m, poisson_binomial_pmf((1.0 + inputs) / 2.0))
        return x, inputs, steady_state(table, design.states)
    elif isinstance(model, EmpiricalInput):
        raise SCValueError("input", "an empirical increment histogram has no operand values to drive the "
                                    "simulator; simulate with a binomial or Poisson-binomial model")
    else:  # pragma: no cover - parse_input admits only the models above
        raise SCValueError("input", f"unknown input model {model!r}")
    return x, inputs, steady_state(model.increments(x), design.states)


def simulate_design(design: FSMDesign, *, length: int = 4096, points: int = 33, repeats: int = 4,
                    source: str = "lfsr", width: int = 16, seed: int = 1) -> SimulatedError:
    """Measure ``design`` (quantized weights) and its baseline bit by bit; see the module docstring."""
    for name, val, lo in (("length", length, 1), ("points", points, 2), ("repeats", repeats, 1), ("seed", seed, 1)):
        check_int(name, val, lo)
    if source not in SOURCES:
        raise SCValueError("source", f"expected one of {SOURCES}, got {source!r}")
    simulate_fsm = _simulator()
    x, inputs, phi = simulation_inputs(design, points)
    realized = design.realized_weights
    bipolar = design.output == "bipolar"

    def to_value(p: np.ndarray) -> np.ndarray:
        return 2.0 * p - 1.0 if bipolar else p

    if design.target is not None:
        target = design.target_value(x)
    else:  # pragma: no cover - designs built by synthesize_fsm always carry their target
        raise SCValueError("design", "design has no target to compare with")
    analytic = to_value(phi @ realized)
    # the baseline Stanh: the deterministic state decode for even N; odd N has no decode (its
    # middle state's weight is 1/2), so it runs as a weighted FSM with the same table
    even = design.states % 2 == 0
    base_weights = None if even else stanh_weights(design.states)
    runs, base_runs = [], []
    for r in range(repeats):
        common = dict(states=design.states, weight_bits=design.weight_bits, length=int(length), source=source,
                      width=width, seed=int(seed) + r)
        runs.append(to_value(np.asarray(simulate_fsm(inputs, weights=realized, **common), dtype=float)))
        base_runs.append(to_value(np.asarray(simulate_fsm(inputs, weights=base_weights, **common), dtype=float)))
    sim = np.stack(runs)          # (R, B)
    base = np.stack(base_runs)
    err = sim - target[None, :]
    base_err = base - target[None, :]
    return SimulatedError(
        length=int(length), source=source, width=int(width), repeats=int(repeats),
        x=tuple(float(v) for v in x), mean_output=tuple(float(v) for v in sim.mean(axis=0)),
        analytic_output=tuple(float(v) for v in analytic),
        rmse=float(np.sqrt(np.mean(err ** 2))), max_error=float(np.abs(err).max()),
        bias_rms=_bias_rms(sim, analytic),
        std_rms=float(np.sqrt(np.mean(sim.var(axis=0, ddof=1)))) if repeats > 1 else float("nan"),
        baseline_rmse=float(np.sqrt(np.mean(base_err ** 2))), baseline_max_error=float(np.abs(base_err).max()),
        baseline_mean_output=tuple(float(v) for v in base.mean(axis=0)))
