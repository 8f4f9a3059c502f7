"""The error budget (sccompiler.analysis): its two ends are exact oracles -- with every class exact
the mixed runtime equals the design reference to float precision, with none it equals the
bit-exact reference runtime bit for bit -- the steady states equal sim's chain solve, the parts
and the total agree within the stated residual, noise parts shrink with L, and the CLI mirrors
the API (fixed seeds throughout)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from compiler.models import FAST, lstm_model, ternary  # noqa: I001  (tests/ is on sys.path)

from sccompiler.analysis import MixedRuntime, budget_table, element_classes, error_budget, write_budget_plot
from sccompiler.analysis.mixed import INTERACTION_KINDS, steady_distribution
from sccompiler.cli import cli
from sccompiler.design import compile_model
from sccompiler.errors import SCValueError
from sccompiler.frontends.native import save_model
from sccompiler.reference import forward
from sccompiler.runtime import Runtime, golden_forward
from sccompiler.sim.primitives import integer_fsm_steady_state

#: |residual of the only-one parts| / stochastic total on the small design below (measured
#: 0.03-0.2 over L = 64..512; the bound leaves room for the sampling noise of 12 sequences)
ISOLATED_RESIDUAL_BOUND = 0.35


@pytest.fixture(scope="module")
def small():
    x = np.random.default_rng(3).uniform(-1, 1, (12, 6, 3))
    cfg = {"length": 128, "defaults": {"gate_input": "integral_wfsm", "hidden": "stream"}, **FAST}
    return compile_model(lstm_model(I=3, H=6, dense=2, weights=ternary), cfg, calibration=x), x


def test_classes_of_an_lstm_design(small):
    design, _ = small
    cls = element_classes(design.netlist)
    for kind in ("x_sng", "h_sng", "c_sng", "sng_quantization", "gate_wfsm_noise", "gate_wfsm_approx",
                 "cell_fsm_noise", "cell_fsm_approx", "operand_correlation", "h_decode", "shared_sources"):
        assert f"lstm0/{kind}" in cls
    assert "head/x_sng" in cls
    with pytest.raises(SCValueError, match="unknown element class"):
        MixedRuntime(design.netlist, {"lstm0/nothing"})


@pytest.mark.parametrize("length", [None, 37])
def test_no_class_exact_is_the_bit_exact_runtime(small, length):
    design, x = small
    want, _ = Runtime(design.netlist).run(x, length=length)
    got = MixedRuntime(design.netlist).run(x, length=length)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("length", [16, 128])
def test_every_class_exact_is_the_design_reference(small, length):
    design, x = small
    golden, _ = golden_forward(design.model, design.plans, x)
    got = MixedRuntime(design.netlist, set(element_classes(design.netlist))).run(x, length=length)
    np.testing.assert_allclose(got, golden, rtol=0, atol=1e-9)
    stochastic, _ = Runtime(design.netlist).run(x, length=length)
    assert np.abs(stochastic - golden).max() > 1e-3          # the oracle can tell the two apart


def test_last_step_design_both_ends_of_the_budget():
    """A head on the last step (LastStep): nothing exact is the runtime bit for bit, everything exact
    the design reference -- the mixed runtime hands the head the last step only, as the engine does."""
    from sccompiler.ir.model import LastStep

    m = lstm_model(I=3, H=6, dense=2)
    m = m.with_layers(m.layers[:1] + (LastStep("last"),) + m.layers[1:])
    x = np.random.default_rng(0).uniform(-1, 1, (4, 5, 3))
    design = compile_model(m, {"length": 64, **FAST}, calibration=x)
    want, _ = Runtime(design.netlist).run(x)
    np.testing.assert_array_equal(MixedRuntime(design.netlist).run(x), want)
    golden, _ = golden_forward(design.model, design.plans, x)
    got = MixedRuntime(design.netlist, set(element_classes(design.netlist))).run(x)
    assert got.shape == golden.shape == (4, 1, 2)
    np.testing.assert_allclose(got, golden, rtol=0, atol=1e-9)


def test_sng_exact_alone_gives_its_threshold_probability(small):
    # only the SNG quantization stochastic: the output differs from the reference, by little
    design, x = small
    cls = set(element_classes(design.netlist))
    golden, _ = golden_forward(design.model, design.plans, x)
    quant = MixedRuntime(design.netlist, cls - {"lstm0/sng_quantization", "head/sng_quantization"}).run(x)
    err = np.abs(quant - golden).max()
    assert 0 < err < 0.05


@pytest.mark.parametrize("states", [6, 16, 48])
def test_steady_distribution_matches_the_chain_solve(states):
    rng = np.random.default_rng(states)
    S = 2 * states - 1
    pmf = np.zeros((5, S))
    mid = states - 1
    for k in range(5):                                        # a few increments around a drift
        support = mid + rng.integers(-4, 5, size=6)
        np.add.at(pmf[k], support, rng.random(6))
    pmf /= pmf.sum(axis=1, keepdims=True)
    got = steady_distribution(pmf, -(states - 1), states)
    for k in range(5):
        want = integer_fsm_steady_state(pmf[k], states, -(states - 1))
        np.testing.assert_allclose(got[k], want, atol=5e-4 if states > 32 else 1e-8)


def test_budget_parts_and_total(small):
    design, x = small
    b = design.error_budget(x, lengths=[64, 512])
    d = b.to_dict()
    json.dumps(d)                                             # JSON-able
    assert [lb["length"] for lb in d["lengths"]] == [64, 512]
    for lb in b.lengths:
        assert lb.mse_exact["golden"] < 1e-18                 # every class exact: the design reference
        assert lb.mse_exact["quantized"] >= 0
        tot = lb.total["golden"]
        assert tot > 0
        for p in lb.parts:
            assert p.removal["golden"] == pytest.approx(lb.mse_full["golden"] - p.mse_exact_one["golden"])
            assert (p.isolated is None) == (p.kind in INTERACTION_KINDS)
        iso = [p.isolated["golden"] for p in lb.parts if p.isolated is not None]
        assert lb.residual("isolated")["golden"] == pytest.approx(tot - sum(iso))
        assert abs(lb.residual("isolated")["golden"]) <= ISOLATED_RESIDUAL_BOUND * tot
        assert lb.per_layer("isolated").keys() == {"lstm0", "head"}
    # stream noise falls with L: the gate WFSMs' noise part and the total
    short, long_ = b.lengths
    noise = {lb.length: next(p for p in lb.parts if p.name == "lstm0/gate_wfsm_noise").isolated["golden"]
             for lb in b.lengths}
    assert noise[512] < noise[64]
    assert long_.total["golden"] < short.total["golden"]
    text = budget_table(b)
    assert "lstm0/gate_wfsm_noise" in text and "residual" in text


def test_budget_refusals_and_plot(small, tmp_path):
    design, x = small
    with pytest.raises(SCValueError, match="unknown element class"):
        error_budget(design, x, classes=["lstm0/bogus"])
    with pytest.raises(SCValueError, match="lengths"):
        error_budget(design, x, lengths=[0])
    b = error_budget(design, x[:3], lengths=[32], classes=["lstm0/h_sng", "lstm0/shared_sources"])
    assert [p.name for p in b.lengths[0].parts] == ["lstm0/h_sng", "lstm0/shared_sources"]
    out = tmp_path / "budget.png"
    write_budget_plot(b, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(Exception, match="exists"):
        write_budget_plot(b, out)


def test_cli_simulate_and_compile_error_budget(small, tmp_path):
    design, x = small
    save_model(design.model, tmp_path / "model")
    np.save(tmp_path / "x.npy", x[:3])
    design.save(tmp_path / "design")
    r = CliRunner().invoke(cli, ["simulate", str(tmp_path / "design"), "--inputs", str(tmp_path / "x.npy"),
                                 "--length", "32", "--error-budget", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)["error_budget"]
    api = design.error_budget(x[:3], lengths=[32]).to_dict()
    assert d["lengths"][0]["mse_full"] == pytest.approx(api["lengths"][0]["mse_full"])
    assert d["lengths"][0]["mse_full"]["quantized"] == pytest.approx(
        float(np.mean((design.simulate(x[:3], length=32) - forward(design.model, x[:3])) ** 2)))
    r = CliRunner().invoke(cli, ["simulate", str(tmp_path / "design"), "--inputs", str(tmp_path / "x.npy"),
                                 "--budget-plot", str(tmp_path / "p.png")])
    assert r.exit_code != 0 and "need --error-budget" in r.output
    r = CliRunner().invoke(cli, ["compile", str(tmp_path / "model"), "--length", "32", "--calibration",
                                 str(tmp_path / "x.npy"), "--disable", "correlation_report", "--disable", "cost",
                                 "--disable", "accuracy_report", "-o", str(tmp_path / "c"), "--error-budget",
                                 "--budget-sequences", "2", "--budget-plot", str(tmp_path / "c.png")])
    assert r.exit_code == 0, r.output
    assert "error budget on 2 sequence(s)" in r.output and (tmp_path / "c.png").exists()
    r = CliRunner().invoke(cli, ["compile", str(tmp_path / "model"), "--length", "32", "-o", str(tmp_path / "d"),
                                 "--error-budget"])
    assert r.exit_code != 0 and "needs --calibration" in r.output
