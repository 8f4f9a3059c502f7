"""Sequence-level heads compiled: torch's ``fc(y[:, -1])`` / ``fc(h_n[-1])`` imported from ONNX,
quantized, compiled and simulated; the head runs once per sequence on the last step (exact
oracles: an exact head equals the per-step head's last step bit for bit, and on one-step inputs
the two designs are the same circuit), the packed runtime is bit-exact with the reference one,
and the cost model charges the head once per sequence."""

from __future__ import annotations

import numpy as np
import pytest
from test_frontends_last_step import classifier, export_onnx

from compiler.models import FAST, SIGN_OUT, assert_bit_exact, lstm_model
from sccompiler.cost import Activity, Design, Inventory
from sccompiler.cost.inventory import dynamic_energy_per_cycle_j
from sccompiler.cost.netlist_cost import cost_report
from sccompiler.design import compile_model
from sccompiler.frontends.onnx_frontend import load_onnx
from sccompiler.ir.model import LastStep
from sccompiler.quantize import quantize_model
from sccompiler.reference import forward

B, T = 3, 5


def _with_last_step(model):
    k = max(i for i, lay in enumerate(model.layers) if lay.kind in ("lstm", "gru"))
    return model.with_layers(model.layers[:k + 1] + (LastStep("last"),) + model.layers[k + 1:])


def _exact(shape, seed):
    return np.random.default_rng(seed).choice([-1.0, 0.0, 1.0], size=shape)


@pytest.mark.parametrize("kind, head", [("LSTM", "last"), ("GRU", "hn"), ("LSTM", "hn"), ("GRU", "last")])
@pytest.mark.parametrize("mode", ["exact", "stream"])
def test_imported_classifier_compiles_and_simulates_bit_exact(torch, tmp_path, kind, head, mode):
    module = classifier(torch, kind, True, head, 1)
    model = load_onnx(export_onnx(torch, module, torch.randn(2, T, 3), tmp_path / "m.onnx"))
    model = quantize_model(model, "binary")
    if mode == "exact":
        x = _exact((B, T, 3), 1)
        cfg = {"length": 32, "defaults": {"hidden": "sign"}, **FAST}
    else:
        x = np.random.default_rng(2).uniform(-1, 1, (B, T, 3))
        cfg = {"length": 32, **FAST}
    design = compile_model(model, cfg, calibration=x)
    assert [p.kind for p in design.netlist.layers] == [kind.lower(), "last_step", "dense"]
    y, runs = assert_bit_exact(design.netlist, x)
    rec, last, fc = (p.name for p in design.netlist.layers)
    assert y.shape == (B, 1, 2) and runs[last].out.shape[1] == 1
    np.testing.assert_array_equal(design.simulate(x), y)
    np.testing.assert_array_equal(runs[last].out[:, 0], runs[rec].out[:, -1])   # the LAST step's h
    tr = design.trace(x)
    assert tr["output"].shape == (B, 1, 2) and tr[fc]["golden"]["out"].shape == (B, 1, 2)
    assert forward(model, x).shape == (B, 1, 2)


def test_exact_head_is_the_per_step_heads_last_step_bit_for_bit():
    """XNOR + popcount is exact: the once-per-sequence head must give what the per-step head gives
    at step T - 1 (it would not at any other step: checked)."""
    model = lstm_model(I=3, H=6, dense=4, seed=5)
    x = _exact((B, T, 3), 3)
    cfg = {"length": 24, "defaults": SIGN_OUT, **FAST}
    per_step = compile_model(model, cfg, calibration=x).simulate(x)
    last = compile_model(_with_last_step(model), cfg, calibration=x)
    y, _ = assert_bit_exact(last.netlist, x)
    np.testing.assert_array_equal(y[:, 0], per_step[:, -1])
    assert not np.array_equal(per_step[:, -1], per_step[:, -2])      # the oracle tells the steps apart


@pytest.mark.parametrize("layers", [1, 2])
def test_streamed_head_on_one_step_inputs_is_the_per_step_design(layers):
    """With T = 1 the last step is the only step: the two designs are the same circuit (same
    sources, seeds and reset), so their outputs agree bit for bit; for T > 1 the head reads the
    last step's h (its counters within a binomial bound of W h_T)."""
    model = lstm_model(I=2, H=4, layers=layers, dense=3, seed=6)
    rng = np.random.default_rng(4)
    cal = rng.uniform(-1, 1, (B, T, 2))
    cfg = {"length": 64, **FAST}
    per_step = compile_model(model, cfg, calibration=cal)
    last = compile_model(_with_last_step(model), cfg, calibration=cal)
    x1 = cal[:, :1]
    np.testing.assert_array_equal(last.simulate(x1), per_step.simulate(x1))
    y, runs = assert_bit_exact(last.netlist, cal)
    head = last.netlist.node("head.y")
    h_last = runs[f"lstm{layers - 1}"].out[:, -1]                      # what the head's SNGs encode
    R = float(last.netlist.node("head.x_s").params["scale"])
    w = last.netlist.node("head.p").arrays["weights"]
    mean = head.arrays["gain"] * ((h_last / R) @ w.T) + head.arrays["bias"]
    L, M = 64, w.shape[1]
    bound = 4 * head.arrays["gain"] * np.sqrt(M / L)                   # 4 sd of a count of M L +-1 steps
    assert np.all(np.abs(y[:, 0] - mean) <= bound)


def test_cost_counts_the_head_once_per_sequence():
    model = lstm_model(I=4, H=8, dense=10, seed=1)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 8, 4))
    cfg = {"length": 64, "disable": ["correlation_report", "accuracy_report"]}
    heads = {}
    for name, m in (("per_step", model), ("last", _with_last_step(model))):
        d = compile_model(m, cfg, calibration=x)
        r = cost_report(d.netlist, m, d.config, steps=32)
        sc = r["designs"][r["sc"]]
        heads[name] = (sc["parts"]["head"]["energy_per_inference_j"], sc["cost"]["latency_cycles"],
                       sc["cost"]["energy_per_inference_j"])
    assert heads["last"][1] == heads["per_step"][1]                   # same latency: (T + K - 1) P + 1
    assert heads["last"][0] < heads["per_step"][0] / 10               # one step of 32 (+ static power)
    assert heads["last"][2] < heads["per_step"][2]


def test_sequence_parts_are_charged_switching_energy_for_one_period():
    a = Inventory.of("xnor", 100).add("counter", 4, width=8)
    h = Inventory.of("counter", 10, width=12).add("sng", 10, width=8)
    P = 16
    gated = Design("g", (("a", a), ("h", h)), step_cycles=(P, P), sequence_parts=("h",))
    plain = Design("p", (("a", a), ("h", h)), step_cycles=(P, P))
    for target in ("asic-generic", "fpga-lut6"):
        for steps in (1, 20):
            cycles = plain.latency_cycles(steps)
            want = (plain.estimate(target, steps=steps).energy_per_inference_j
                    - dynamic_energy_per_cycle_j(h, target, Activity()) * (cycles - P))
            got = gated.estimate(target, steps=steps)
            assert got.energy_per_inference_j == pytest.approx(want, rel=1e-12)
            assert got.power_w == pytest.approx(want / cycles * got.clock_mhz * 1e6, rel=1e-12)
            parts = gated.part_estimates(target, steps=steps)
            assert sum(p.energy_per_inference_j for p in parts.values()) == pytest.approx(want, rel=1e-9)
        assert dynamic_energy_per_cycle_j(h, target) > 0
