"""WFSM synthesis: dominance over Stanh/IStanh, accuracy on smooth targets, quantization,
automatic sizing, caching and argument errors.  Errors are re-derived independently from the
reported weights (closed-form steady state + numpy), never read back from the design."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sccompiler.errors import SCValueError, SynthesisError
from sccompiler.fsm import (
    BinomialInput,
    EmpiricalInput,
    PoissonBinomialInput,
    binary_steady_state,
    chain_steady_state,
    stanh_weights,
    synthesize_fsm,
)


def _trapezoid_errors(x, y, target):
    rho = np.ones_like(x)
    rho[[0, -1]] = 0.5
    rho /= rho.sum()
    err = target - y
    return np.sqrt(rho @ err ** 2), np.abs(err).max()


@pytest.mark.parametrize("states", [4, 8, 16, 32, 64])
def test_never_worse_than_stanh_on_its_own_target(states):
    x = np.linspace(-1, 1, 2001)
    target = np.tanh(states * x / 2)
    stanh_y = 2 * binary_steady_state(x, states) @ stanh_weights(states) - 1
    stanh_rmse, stanh_max = _trapezoid_errors(x, stanh_y, target)
    l2 = synthesize_fsm(f"tanh({states}*x/2)", states=states)
    assert l2.baseline.name == "Stanh"
    assert l2.baseline.analytic_rmse == pytest.approx(stanh_rmse, rel=1e-9)
    assert l2.unquantized_rmse <= stanh_rmse * (1 + 1e-9)
    assert l2.analytic_rmse <= stanh_rmse * (1 + 1e-9)
    mm = synthesize_fsm(f"tanh({states}*x/2)", states=states, objective="minimax")
    assert mm.unquantized_max_error <= stanh_max * (1 + 1e-6)
    assert mm.analytic_max_error <= stanh_max * (1 + 1e-9)


@pytest.mark.parametrize("expr, output", [
    ("tanh(2*x)", "bipolar"),
    ("(1+tanh(x))/2", "unipolar"),
    ("sigmoid(4*x)", "bipolar"),          # a gate value in [0, 1] on a bipolar stream
    ("2*sigmoid(1.7*x - 0.3) - 1", "bipolar"),  # batch-norm-folded (affine-warped) gate
])
def test_smooth_targets_reach_1e3_rmse_at_16_states(expr, output):
    d = synthesize_fsm(expr, states=16, output=output, weight_bits=10)
    assert d.unquantized_rmse <= 1e-4
    assert d.analytic_rmse <= 1e-3
    # 8-bit weights sit at their quantization floor: near x = +-1 the output is ~ the end state's
    # weight alone, whose rounding error (<= 2^-9 in P, 2^-8 in y) no other state can offset
    eight = synthesize_fsm(expr, states=16, output=output, weight_bits=8)
    assert eight.analytic_rmse <= 1.5e-3


def test_quantized_weights_reproduce_reported_error():
    d = synthesize_fsm("tanh(3*x)", states=12, weight_bits=6, domain=(-0.8, 0.9))
    q = np.asarray(d.quantized_weights)
    assert q.dtype.kind == "i" and q.min() >= 0 and q.max() <= 64
    x = np.linspace(-0.8, 0.9, 2001)
    y = 2 * binary_steady_state(x, 12) @ (q / 64) - 1
    rmse, mx = _trapezoid_errors(x, y, np.tanh(3 * x))
    assert d.analytic_rmse == pytest.approx(rmse, rel=1e-9)
    assert d.analytic_max_error == pytest.approx(mx, rel=1e-9)
    np.testing.assert_allclose(d.output_value(x), y, atol=1e-12)
    # the integer refinement never ends worse than plain rounding
    rounded = np.rint(np.asarray(d.weights) * 64) / 64
    assert d.analytic_rmse <= _trapezoid_errors(x, 2 * binary_steady_state(x, 12) @ rounded - 1, np.tanh(3 * x))[0]


def test_density_weights_the_fit():
    dens = lambda x: np.exp(-((x - 0.5) / 0.1) ** 2)  # noqa: E731
    focused = synthesize_fsm("tanh(5*x)", states=6, density=dens, weight_bits=12)
    flat = synthesize_fsm("tanh(5*x)", states=6, weight_bits=12)
    x = np.linspace(0.4, 0.6, 201)
    err = lambda d: np.abs(d.output_value(x) - np.tanh(5 * x)).max()  # noqa: E731
    assert err(focused) < err(flat)


def test_monotone_weights():
    d = synthesize_fsm("tanh(2*x)", states=16, monotone=True)
    assert d.monotone == "increasing" and np.all(np.diff(d.quantized_weights) >= 0)
    dec = synthesize_fsm("-tanh(2*x)", states=16, monotone=True)
    assert dec.monotone == "decreasing" and np.all(np.diff(dec.quantized_weights) <= 0)


def test_integral_input_beats_istanh():
    # sums of M equal streams: IStanh ~ tanh(N * xbar / 2) with xbar = x / M
    d = synthesize_fsm("tanh(8*(x/2)/2)", states=8, input="integral:2")
    assert d.baseline.name == "IStanh" and d.domain == (-2.0, 2.0)
    assert d.analytic_rmse < d.baseline.analytic_rmse
    x = np.linspace(-2, 2, 2001)
    pi = chain_steady_state(BinomialInput(2).increments(x), 8)
    rmse, _ = _trapezoid_errors(x, 2 * pi @ d.realized_weights - 1, np.tanh(2 * x))
    assert d.analytic_rmse == pytest.approx(rmse, rel=1e-9)


def test_sample_models_fit_their_samples():
    rng = np.random.default_rng(3)
    ops = rng.uniform(-1, 1, size=(300, 2))
    d = synthesize_fsm("tanh(x)", states=10, input=PoissonBinomialInput.from_array(ops))
    assert d.analytic_rmse < d.baseline.analytic_rmse
    assert len(d.evaluation_points()) == 300
    emp = EmpiricalInput.from_arrays([-2, 0, 2], rng.uniform(0.1, 1, size=(50, 3)))
    e = synthesize_fsm("tanh(x)", states=6, input=emp)
    assert np.isfinite(e.analytic_rmse)
    with pytest.raises(SCValueError, match="samples"):
        synthesize_fsm("tanh(x)", states=6, input=emp, domain=(-1, 1))


def test_max_error_picks_the_smallest_states_and_bits():
    d = synthesize_fsm("tanh(3*x)", max_error=0.01, weight_bits=None)
    assert d.analytic_max_error <= 0.01
    smaller = synthesize_fsm("tanh(3*x)", states=d.states - 1, weight_bits=16)
    assert smaller.analytic_max_error > 0.01
    if d.weight_bits > 1:
        fewer = synthesize_fsm("tanh(3*x)", states=d.states, weight_bits=d.weight_bits - 1)
        assert fewer.analytic_max_error > 0.01
    with pytest.raises(SynthesisError, match="no FSM with up to 8 states"):
        synthesize_fsm("tanh(3*x)", max_error=1e-9, max_states=8)


def test_cache_memory_and_disk(monkeypatch, tmp_path):
    a = synthesize_fsm("tanh(1.5*x)", states=10)
    b = synthesize_fsm("tanh(1.5*x)", states=10)
    assert not a.cached and b.cached and a.quantized_weights == b.quantized_weights
    assert not synthesize_fsm("tanh(1.5*x)", states=11).cached
    monkeypatch.setenv("SCC_FSM_CACHE", "1")
    monkeypatch.setenv("SCC_CACHE_DIR", str(tmp_path))
    c = synthesize_fsm("tanh(1.25*x)", states=10)
    assert list((tmp_path / "fsm").glob("*.json"))
    from sccompiler.fsm import clear_cache

    clear_cache()
    d = synthesize_fsm("tanh(1.25*x)", states=10)
    assert d.cached and d.quantized_weights == c.quantized_weights and d.analytic_rmse == c.analytic_rmse
    # a callable is keyed by its values
    e = synthesize_fsm(lambda x: np.tanh(1.25 * x), states=10)
    f = synthesize_fsm(lambda x: np.tanh(1.25 * x), states=10)
    assert f.cached and e.quantized_weights == f.quantized_weights


@pytest.mark.parametrize("kwargs, param", [
    (dict(states=8, max_error=0.1), "states"),
    (dict(), "states"),
    (dict(states=1), "states"),
    (dict(states=8, input="ternary"), "input"),
    (dict(states=8, input="integral:0"), "input"),
    (dict(states=8, output="signed"), "output"),
    (dict(states=8, objective="l1"), "objective"),
    (dict(states=8, domain=(-2, 1)), "domain"),
    (dict(states=8, domain=(0.5, 0.5)), "domain"),
    (dict(states=8, weight_bits=0), "weight_bits"),
    (dict(states=8, regularization=-1.0), "regularization"),
    (dict(states=8, monotone="up"), "monotone"),
    (dict(max_error=-0.1), "max_error"),
])
def test_bad_arguments(kwargs, param):
    with pytest.raises(SCValueError) as info:
        synthesize_fsm("tanh(x)", **kwargs)
    assert info.value.param == param


@settings(max_examples=8)
@given(states=st.integers(2, 40), gain=st.floats(0.2, 6), shift=st.floats(-0.5, 0.5), amp=st.floats(0.1, 0.6),
       objective=st.sampled_from(["l2", "minimax"]))
def test_optimum_beats_every_feasible_reference(states, gain, shift, amp, objective):
    """The solver's answer is no worse than feasible points we can write down (Stanh, all-1/2,
    the clipped least-squares solution) -- catches solver inaccuracy on the ill-conditioned fits.
    Unregularized, since a regularizer may trade a little fit for smoother weights."""
    from sccompiler.fsm.synth import _errors, _fit_problem

    d = synthesize_fsm(lambda x: amp * np.tanh(gain * x) + shift * (1 - amp), states=states, objective=objective,
                       weight_bits=16, regularization=0.0)
    prob = _fit_problem(d.target, d.input, states, d.domain, d.grid, None, "bipolar", False)
    pick = 0 if objective == "l2" else 1
    ls = np.clip(np.linalg.lstsq(prob.phi, prob.p, rcond=None)[0], 0, 1)
    got = (d.unquantized_rmse, d.unquantized_max_error)[pick]
    for ref in (stanh_weights(states), np.full(states, 0.5), ls):
        # absolute slack 1e-9: the LP is solved to ~1e-11 (HiGHS' 1e-7 on a problem scaled <= 1e4),
        # five orders of magnitude below the weights' quantization error
        assert got <= _errors(prob, ref)[pick] * (1 + 1e-6) + 1e-9
