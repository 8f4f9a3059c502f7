"""Bit-level truth: synthesized designs simulated with the cycle-accurate simulator agree with the
exact Markov-chain mean (reset transient included) within k sigma of the exact output spread."""

from __future__ import annotations

import numpy as np
import pytest

from sccompiler.errors import SCValueError
from sccompiler.fsm import BinaryInput, BinomialInput, EmpiricalInput, synthesize_fsm
from sccompiler.fsm.simulate import simulate_design
from sccompiler.fsm.steady import stream_statistics

K_SIGMA = 5.0  # per point; fixed seeds


def _check_against_chain(model, expr, source, states=12, length=8192, repeats=4):
    from sccompiler.sim import simulate_fsm

    d = synthesize_fsm(expr, states=states, input=model)
    lo, hi = model.domain
    m = model.max_step
    # the simulator's SNG thresholds are 16-bit: feed the oracle the values they actually encode
    xq = np.floor((np.linspace(0.9 * lo, 0.9 * hi, 7) / m + 1) / 2 * 65536 + 0.5) / 65536 * 2 * m - m
    inputs = xq if isinstance(model, BinaryInput) else np.repeat((xq / m)[:, None], m, axis=1)
    runs = np.stack([simulate_fsm(inputs, states=states, weights=d.realized_weights, weight_bits=d.weight_bits,
                                  length=length, source=source, seed=11 + r) for r in range(repeats)])
    mean, std = stream_statistics(model.increments(xq), states, d.realized_weights, length)
    z = (runs.mean(axis=0) - mean) / (std / np.sqrt(repeats) + 1.0 / length)
    assert np.all(np.abs(z) < K_SIGMA), z
    # and the exact mean is the analytic steady state up to the (exact) reset transient
    assert np.abs(mean - (d.output_value(xq) + 1) / 2).max() < 0.01


@pytest.mark.parametrize("model, expr, source", [
    (BinomialInput(2), "tanh(x)", "ideal"), (BinomialInput(2), "tanh(x)", "lfsr"),
    (BinomialInput(3), "tanh(x/2)", "ideal"), (BinomialInput(4), "tanh(x/2)", "lfsr"),
    (BinaryInput(), "tanh(2*x)", "ideal"), (BinaryInput(), "tanh(2*x)", "lfsr"),
])
def test_simulated_mean_matches_exact_chain_statistics(model, expr, source):
    _check_against_chain(model, expr, source)


@pytest.mark.parametrize("operands", [3, 5])
def test_lfsr_operand_counts_dividing_the_period_stay_independent(operands):
    # regression: phases P/M apart on one LFSR made R3 = R1 xor R2 (1 + w + w^2 = 0 in GF(2^16));
    # 3 and 5 both divide 2^16 - 1, so either would expose equal-fraction phase spacing again
    _check_against_chain(BinomialInput(operands), "tanh(x/2)", "lfsr")


def test_simulate_design_reports_design_and_baseline():
    d = synthesize_fsm("tanh(4*x)", states=8)
    sim = simulate_design(d, length=4096, points=9, repeats=3)
    assert sim.source == "lfsr" and sim.length == 4096 and len(sim.x) == 9
    # the error is dominated by the stream's spread: within a few std of the analytic error
    assert sim.rmse <= d.analytic_rmse + 4 * sim.std_rms
    assert sim.rmse >= 0.2 * sim.std_rms
    # the baseline at the same length is measured, too: its error obeys the same bound (stream
    # spread around its own analytic error; Stanh has no weight source, so its spread is no larger)
    assert 0.2 * sim.std_rms <= sim.baseline_rmse <= d.baseline.analytic_rmse + 4 * sim.std_rms
    np.testing.assert_allclose(sim.analytic_output, d.output_value(np.asarray(sim.x)), atol=1e-12)


def test_integral_and_odd_state_designs_simulate():
    d = synthesize_fsm("tanh(x)", states=9, input="integral:2")
    sim = simulate_design(d, length=2048, points=5, repeats=2, source="ideal")
    assert np.isfinite(sim.rmse) and np.isfinite(sim.baseline_rmse) and sim.source == "ideal"


def test_simulation_argument_errors():
    d = synthesize_fsm("tanh(x)", states=4)
    for kwargs, param in [(dict(length=0), "length"), (dict(points=1), "points"), (dict(source="lfsr1"), "source")]:
        with pytest.raises(SCValueError) as info:
            simulate_design(d, **kwargs)
        assert info.value.param == param
    emp = synthesize_fsm("tanh(x)", states=4, input=EmpiricalInput.from_arrays([-1, 1], [[1, 2], [2, 1]]))
    with pytest.raises(SCValueError, match="empirical"):
        simulate_design(emp)
