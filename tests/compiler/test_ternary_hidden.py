"""Ternary hidden states (GXNOR, ``hidden_activation: ternary``, ``hidden: ternary``): the one
rule (sim.rules.ternary_state) at its threshold neighbours and in the count domain, the STE
gradient, export and the reference against torch, both runtimes bit-exact, the design's h against
the rule applied to its own counts, state skipping against a direct count, the RTL co-simulated,
and the refusals."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

from sccompiler.design import compile_model
from sccompiler.errors import ConfigError, InvalidWeightsError, SCValueError, UnsupportedOpError
from sccompiler.ir.model import LSTM, Model
from sccompiler.sim.rules import ternary_count_threshold, ternary_decode, ternary_state
from sccompiler.testing import require_tool, require_torch

from .models import FAST, assert_bit_exact, gru_model, lstm_model, ternary


def test_ternary_rule_at_the_threshold_neighbours():
    r = 0.3
    below, above = np.nextafter(r, 0.0), np.nextafter(r, 1.0)
    x = np.array([-1.0, -above, -r, -below, -0.0, 0.0, below, r, above, 1.0])
    np.testing.assert_array_equal(ternary_state(x, r), [-1, -1, -1, 0, 0, 0, 0, 1, 1, 1])
    assert not np.signbit(ternary_state(np.array([-0.1]), r)).any()          # 0, never -0.0


@pytest.mark.parametrize("r", [0.3, 0.25, 0.5, 1 / 3, 0.01, 0.999])
@pytest.mark.parametrize("L", [1, 7, 16, 64, 100, 1024])
def test_count_threshold_decodes_every_count_as_the_float_rule(r, L):
    k = ternary_count_threshold(r, L)
    counts = np.arange(L + 1)
    want = ternary_state((2.0 * counts - L) / L, r)
    np.testing.assert_array_equal(ternary_decode(counts, L, k), want)
    assert k >= 1 and (k - 1) / L < r <= k / L
    with pytest.raises(SCValueError, match="hidden_threshold"):
        ternary_count_threshold(0.0, L)


@pytest.fixture(scope="module")
def tr():
    torch = require_torch()
    torch.set_num_threads(1)
    from sccompiler import train  # noqa: PLC0415
    return train


def test_ternary_ste_gradient_is_the_window(tr):
    import torch  # noqa: PLC0415

    x = torch.tensor([-1.2, -0.7, -0.5, -0.2, 0.0, 0.1, 0.49, 0.5, 0.9, 1.3], requires_grad=True)
    y = tr.ternary_activation(x, threshold=0.5, half_width=0.5)
    assert y.tolist() == [-1.0, -1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    y.backward(torch.ones_like(x))
    # 1/(2a) inside 0 < |x| < 1: a = 0.5 gives 1 there, 0 at x = 0 and beyond |x| >= 1
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    x.grad = None
    tr.ternary_activation(x, threshold=0.5, half_width=0.25).sum().backward()
    assert x.grad.tolist() == [0.0, 2.0, 2.0, 0.0, 0.0, 0.0, 2.0, 2.0, 0.0, 0.0]


def _model(tr, cell="lstm", seed=0, r=0.3):
    return tr.QuantSequenceModel(cell, 1, 8, 2, quant=tr.QuantConfig("ternary"), head_quant=tr.QuantConfig("ternary"),
                                 hidden_quant=tr.TernaryActivation(r), seed=seed)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_export_and_reference_match_training_exactly(tr, cell, tmp_path):
    import torch  # noqa: PLC0415

    from sccompiler.frontends import load_model, save_model  # noqa: PLC0415
    from sccompiler.reference import forward  # noqa: PLC0415

    x, y = tr.synthetic_task("delay", 96, 8, seed=2)
    m = _model(tr, cell, seed=5)
    tr.fit(m, x, y, tr.TrainConfig(epochs=4, batch_size=16, lr=1e-2))
    ir = tr.to_ir(m)
    lay = ir.layers[0]
    assert (lay.hidden_activation, lay.hidden_threshold) == ("ternary", 0.3)
    with torch.no_grad():
        h_torch = m.rnn(x).double().numpy()
        expect = m(x).double().numpy()
    from sccompiler.reference import layer_forward  # noqa: PLC0415

    h_ref, _ = layer_forward(lay, x.double().numpy(), None, False)
    np.testing.assert_array_equal(h_ref, h_torch)                  # the states: exactly the same codes
    codes = set(np.unique(h_ref))
    assert codes <= {-1.0, 0.0, 1.0} and 0.0 in codes and len(codes) >= 2   # zeros and nonzeros: it can fail
    assert np.abs(forward(ir, x.double().numpy()) - expect).max() <= 1e-5
    back = load_model(save_model(ir, tmp_path / "m"))
    assert (back.layers[0].hidden_activation, back.layers[0].hidden_threshold) == ("ternary", 0.3)
    bad = ir.with_layers([dataclasses.replace(lay, hidden_threshold=-1.0), *ir.layers[1:]])
    with pytest.raises(InvalidWeightsError, match="hidden_threshold"):
        bad.validate()


def _ternary_lstm(layers=1, dense=0, H=6, seed=3, r=0.2) -> Model:
    m = lstm_model(I=3, H=H, layers=layers, seed=seed, dense=dense, weights=ternary)
    return m.with_layers([lay.replace(hidden_activation="ternary", hidden_threshold=r)
                          if isinstance(lay, LSTM) else lay for lay in m.layers])


def _x(T=5, B=6, seed=0, I=3):
    return np.random.default_rng(seed).choice([-1.0, 0.0, 1.0], size=(B, T, I))


@pytest.mark.parametrize("L", [32, 100])
def test_runtimes_bit_exact_and_h_is_the_rule_on_its_counts(L):
    model = _ternary_lstm(layers=2, dense=2)
    d = compile_model(model, {"length": L, **FAST}, calibration=_x())
    assert (d.plans["lstm0"].gate_input, d.plans["lstm0"].hidden) == ("table", "ternary")
    x = _x(seed=1)
    _, runs = assert_bit_exact(d.netlist, x)
    for lay in ("lstm0", "lstm1"):
        tr_ = runs[lay].trace
        cnt = tr_[f"{lay}.h_cnt"]                               # C: ones of o XNOR tanh(c) in L cycles
        h = tr_[f"{lay}.h"]
        np.testing.assert_array_equal(h, ternary_state((2 * np.rint(cnt) - L) / L, 0.2))
        assert set(np.unique(h)) == {-1.0, 0.0, 1.0}
    # the run's L decides the integer threshold: a shorter run still decodes the rule
    assert_bit_exact(d.netlist, x, length=48)


def test_gru_ternary_runtimes_bit_exact():
    m = gru_model(I=3, H=5, layers=1, seed=2)
    lay = m.layers[0]
    m = m.with_layers([lay.replace(w_ih=ternary((15, 3), np.random.default_rng(0), 0.4),
                                   hidden_activation="ternary", hidden_threshold=0.25)])
    d = compile_model(m, {"length": 64, **FAST}, calibration=_x())
    assert d.plans["gru0"].hidden == "ternary"
    _, runs = assert_bit_exact(d.netlist, _x(seed=4))
    assert 0.0 in np.unique(runs["gru0"].trace["gru0.h"])


def test_skipped_fraction_equals_a_direct_count():
    model = _ternary_lstm()
    x = _x(T=6, B=5, seed=2)
    d = compile_model(model, {"length": 64, "disable": ["correlation_report", "accuracy_report"]}, calibration=x)
    sk = d.info["cost"]["state_skipping"]
    from sccompiler.runtime.engine import Runtime  # noqa: PLC0415
    _, runs = Runtime(d.netlist).run(x, trace=True)
    h_prev = runs["lstm0"].trace["lstm0.h_prev"]                   # (B, T, H): the operand of each step
    w = d.netlist.node("lstm0.kh").arrays["weights"]
    total = off = 0
    for b in range(h_prev.shape[0]):
        for t in range(h_prev.shape[1]):
            for r in range(w.shape[0]):
                for j in range(w.shape[1]):
                    if w[r, j] != 0:
                        total += 1
                        off += int(h_prev[b, t, j] == 0)
    assert (sk["xnor_evaluations"], sk["skipped"]) == (total, off)
    assert sk["skipped_fraction"] == off / total and 0.1 < off / total < 1.0
    assert sk["energy_per_inference_j"] < sk["energy_per_inference_j_without_skipping"]
    assert "calibration sequences" in sk["source"]
    assert f"State skipping (ternary h): {off / total:.1%}" in d.report_markdown()
    # without calibration inputs nothing is measured, and the report says so
    d2 = compile_model(model, {"length": 64, "disable": ["correlation_report", "accuracy_report"],
                               "input_encoding": "exact", "input_range": 1.0})
    assert d2.info["cost"]["state_skipping"]["skipped_fraction"] is None


def test_refusals():
    model = _ternary_lstm()
    for hidden in ("stream", "sign"):
        with pytest.raises(ConfigError, match="ternary hidden states"):
            compile_model(model, {"length": 32, "defaults": {"hidden": hidden}, **FAST}, calibration=_x())
    # table gates need exact operands: real inputs cannot feed them
    real = np.random.default_rng(0).uniform(-1, 1, (4, 5, 3))
    with pytest.raises(ConfigError, match="exact"):
        compile_model(model, {"length": 32, "defaults": {"gate_input": "table"}, **FAST}, calibration=real)
    # integral gates with ternary h simulate, but the RTL refuses them
    from sccompiler.backends.verilog.design import check_supported  # noqa: PLC0415
    d = compile_model(model, {"length": 32, "defaults": {"gate_input": "integral_wfsm"}, **FAST}, calibration=_x())
    with pytest.raises(UnsupportedOpError, match="hidden: ternary"):
        check_supported(d)


def test_rtl_matches_runtime_bit_for_bit(tmp_path):
    require_tool("iverilog")
    from sccompiler.backends.verilog.design import emit_design, verify_design  # noqa: PLC0415

    model = _ternary_lstm(layers=2, dense=2, H=4, seed=5, r=0.25)
    x = _x(T=4, B=3, seed=6)
    d = compile_model(model, {"length": 20, **FAST}, calibration=_x(seed=7))
    emit_design(d, tmp_path / "rtl", inputs=x)
    top = (tmp_path / "rtl" / "rtl" / "sc_design.v").read_text()
    assert "_nz[" in top
    passed, res = verify_design(tmp_path / "rtl", "icarus")
    assert passed, res.stdout[-2000:]
    assert "MISMATCH" not in res.stdout
    h = d.trace(x)["lstm0"]["sc"]["lstm0.h"]
    assert set(np.unique(h)) == {-1.0, 0.0, 1.0}                # zeros reach the RTL: the check can fail


def test_scc_train_ternary_h_writes_a_model_that_compiles(tr, tmp_path):
    from sccompiler import cli as cli_pkg  # noqa: PLC0415
    from sccompiler.frontends import load_model  # noqa: PLC0415

    res = CliRunner().invoke(cli_pkg.cli, ["train", "--task", "delay", "--samples", "64", "--steps", "6",
                                           "--hidden", "6", "--epochs", "2", "--scheme", "ternary",
                                           "--hidden-quant", "ternary", "--hidden-threshold", "0.25",
                                           "-o", str(tmp_path / "m"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["hidden_quant"] == "ternary"
    m = load_model(tmp_path / "m")
    assert (m.layers[0].hidden_activation, m.layers[0].hidden_threshold) == ("ternary", 0.25)
    out = CliRunner().invoke(cli_pkg.cli, ["compile", str(tmp_path / "m"), "--length", "32",
                                           "-o", str(tmp_path / "d"), "--json"])
    assert out.exit_code == 0, out.output


def test_committed_quickstart_ternary_h_model_compiles_to_ternary_h():
    from pathlib import Path  # noqa: PLC0415

    from sccompiler.frontends import load_model  # noqa: PLC0415
    from sccompiler.tasks import synthetic_task_arrays  # noqa: PLC0415

    root = Path(__file__).resolve().parents[2]
    m = load_model(root / "examples" / "quickstart" / "model" / "ternary-h")
    assert m.layers[0].hidden_activation == "ternary"
    x, _ = synthetic_task_arrays("delay", 8, 16, seed=0)
    d = compile_model(m, {"length": 64, **FAST}, calibration=x)
    assert (d.plans["lstm0"].gate_input, d.plans["lstm0"].hidden) == ("table", "ternary")

