"""The k-bit fixed-point baseline of sequence classifiers (a LastStep, then optionally a Linear
head: torch's ``fc(y[:, -1])``): the integer model's last step is the per-step model's last step
bit for bit, it converges to the float reference as k grows, ONNX-imported classifiers run, the
cost model runs the head once per sequence (latency: the head after the last step; switching
energy: once), and explore's baselines work on such a model."""

from __future__ import annotations

import numpy as np
import pytest
from test_fixed_point_model import rnn

from sccompiler.cost import Activity, fixed_point_design, head_runs_once, head_shape, layer_shapes
from sccompiler.cost.baselines import HEAD_PARTS, binary_weight_design
from sccompiler.cost.inventory import dynamic_energy_per_cycle_j
from sccompiler.cost.primitives import tree_levels
from sccompiler.cost.targets import load_target
from sccompiler.errors import SCValueError, UnsupportedOpError
from sccompiler.explore.fixed_point import run_baselines
from sccompiler.explore.trial import TrialContext
from sccompiler.ir.model import LastStep, Linear, Tensor
from sccompiler.quantize.fixed_point import FixedPointModel
from sccompiler.reference import forward


def _head(H: int, out: int, seed: int) -> Linear:
    rng = np.random.default_rng(seed)
    return Linear("head", in_size=H, out_size=out, weight=Tensor(rng.normal(0, 0.7, (out, H))),
                  bias=Tensor(rng.normal(0, 0.3, out)))


def _classifier(kind, layers=2, lbr=True, head=3, seed=1, H=6):
    """(per-step model, the same with a LastStep before the head) as tests/compiler/test_last_step."""
    m = rnn(kind, I=3, H=H, layers=layers, seed=seed, lbr=lbr)
    tail = [_head(H, head, seed + 10)] if head else []
    return m.with_layers([*m.layers, *tail]), m.with_layers([*m.layers, LastStep("last"), *tail])


@pytest.mark.parametrize("kind,lbr", [("lstm", True), ("gru", True), ("gru", False)])
@pytest.mark.parametrize("head", [0, 3])
def test_last_step_is_the_per_step_models_last_step_bit_for_bit(kind, lbr, head):
    per_step, last = _classifier(kind, lbr=lbr, head=head)
    x = np.random.default_rng(3).uniform(-1, 1, (5, 7, 3))
    for bits in (5, 8):
        a, b = FixedPointModel.from_model(per_step, bits), FixedPointModel.from_model(last, bits)
        assert b.last_step == "last" and a.last_step is None
        xi = a.quantize_input(x)
        ra, rb = a.forward(xi), b.forward(xi)
        for lay in a.layers:                              # the recurrent layers are untouched
            for q, v in ra[lay.name].items():
                np.testing.assert_array_equal(rb[lay.name][q], v)
        last_h = ra[a.layers[-1].name]["h"][:, -1:]
        np.testing.assert_array_equal(rb["last"]["h"], last_h)
        assert rb["last"]["h"].shape == (5, 1, 6)
        if head:
            assert rb["head"]["y"].shape == (5, 1, head)
            np.testing.assert_array_equal(rb["head"]["y"], ra["head"]["y"][:, -1:])
            # and at no other step (the state moved): the head really read step T - 1
            assert not np.array_equal(rb["head"]["y"][:, 0], ra["head"]["y"][:, -2])
        ya, yb = a.forward_float(x), b.forward_float(x)
        np.testing.assert_array_equal(yb, ya[:, -1:])


@pytest.mark.parametrize("kind,lbr", [("lstm", True), ("gru", True), ("gru", False)])
def test_last_step_error_shrinks_with_bits(kind, lbr):
    """Against the float64 reference of the LastStep model (B, 1, out): the k-bit bound of the
    per-step tests (12 bits within 0.02; 6 -> 12 bits at least 8x better)."""
    _, last = _classifier(kind, lbr=lbr, head=3, seed=8)
    x = np.random.default_rng(9).uniform(-1, 1, (16, 8, 3))
    ref = forward(last, x)
    assert ref.shape == (16, 1, 3)
    err = {b: float(np.abs(FixedPointModel.from_model(last, b).forward_float(x) - ref).max()) for b in (6, 8, 12)}
    assert err[12] < 0.02 and err[12] < err[8] < err[6] and err[12] * 8 < err[6]
    _, no_head = _classifier(kind, lbr=lbr, head=0, seed=8)
    ref = forward(no_head, x)
    got = FixedPointModel.from_model(no_head, 12).forward_float(x)
    assert got.shape == ref.shape == (16, 1, 6) and float(np.abs(got - ref).max()) < 0.01


@pytest.mark.parametrize("kind, head", [("LSTM", "last"), ("GRU", "hn")])
def test_onnx_imported_classifier(torch, tmp_path, kind, head):
    from test_frontends_last_step import classifier, export_onnx

    from sccompiler.frontends.onnx_frontend import load_onnx

    module = classifier(torch, kind, True, head, 1)
    model = load_onnx(export_onnx(torch, module, torch.randn(2, 5, 3), tmp_path / "m.onnx"))
    assert [lay.kind for lay in model.layers] == [kind.lower(), "last_step", "linear"]
    x = np.random.default_rng(4).uniform(-1, 1, (4, 5, 3))
    ref = forward(model, x)
    err = {b: float(np.abs(FixedPointModel.from_model(model, b).forward_float(x) - ref).max()) for b in (6, 12)}
    assert err[12] < 0.02 and err[12] * 8 < err[6]


def test_refuses_other_orders():
    per_step, last = _classifier("lstm", layers=1, head=3)
    lstm, ls, head = last.layers
    mid = Linear("mid", in_size=6, out_size=6, weight=Tensor(np.eye(6)))
    with pytest.raises(UnsupportedOpError, match="LastStep"):          # a Linear before the LastStep
        FixedPointModel.from_model(last.with_layers([lstm, mid, ls]), 8)
    with pytest.raises(UnsupportedOpError, match="mid"):               # two Linears after it
        FixedPointModel.from_model(last.with_layers([lstm, ls, mid, head]), 8)


# ------------------------------------------------------------------ cost
def _head_cycles(fan_in, out, parallelism):
    return 1 + tree_levels(fan_in + 1) if parallelism is None else -(-(fan_in * out) // parallelism) + 1


@pytest.mark.parametrize("parallelism", [None, 4, 1])
def test_cost_runs_the_head_once_after_the_last_step(parallelism):
    """Latency: the recurrent pipeline, then the head's own cycles once (not one more pipeline
    stage: with P = 1 the 6 x 80 head is longer than a step, and would stretch every step);
    energy: the head's switching once per sequence (its active cycles), static power throughout."""
    shapes, head = [(3, 6), (6, 6)], (6, 80)
    plain = fixed_point_design(shapes, bits=8, parallelism=parallelism)
    per_step = fixed_point_design(shapes, bits=8, parallelism=parallelism, head=head)
    once = fixed_point_design(shapes, bits=8, parallelism=parallelism, head=head, head_per_sequence=True)
    hc = _head_cycles(*head, parallelism)
    assert once.step_cycles == plain.step_cycles and once.result_cycles == hc
    for T in (1, 8, 32):
        assert once.latency_cycles(T) == plain.latency_cycles(T) + hc
    if parallelism == 1:
        assert hc > max(plain.step_cycles)
        assert per_step.latency_cycles(32) == once.latency_cycles(32) + 31 * (hc - max(plain.step_cycles))
    assert set(once.sequence_parts) <= set(HEAD_PARTS) and "head input" in once.sequence_parts
    assert dict(once.params)["head_per_sequence"] is True
    tgt = load_target("asic-generic")
    for T in (4, 32):
        cycles = once.latency_cycles(T)
        active = max(plain.step_cycles) if parallelism is None else hc
        parts = once.part_estimates(tgt, steps=T)
        for name in once.sequence_parts:
            inv = dict(once.parts)[name]
            full = inv.estimate(tgt, cycles=cycles, activity=once.activity())
            idle = dynamic_energy_per_cycle_j(inv, tgt, once.activity()) * (cycles - active)
            want = full.energy_per_inference_j - idle
            assert parts[name].energy_per_inference_j == pytest.approx(want, rel=1e-12)
        total = once.estimate(tgt, steps=T).energy_per_inference_j
        assert total == pytest.approx(sum(p.energy_per_inference_j for p in parts.values()), rel=1e-9)
    # the head's switching does not grow with T: over 28 more steps only static power is added
    e = {T: once.part_estimates(tgt, steps=T) for T in (4, 32)}
    ps = {T: per_step.part_estimates(tgt, steps=T) for T in (4, 32)}
    grow_once = e[32]["head rows" if parallelism is None else "head lanes"].energy_per_inference_j \
        - e[4]["head rows" if parallelism is None else "head lanes"].energy_per_inference_j
    grow_ps = ps[32]["head rows" if parallelism is None else "head lanes"].energy_per_inference_j \
        - ps[4]["head rows" if parallelism is None else "head lanes"].energy_per_inference_j
    assert 0 < grow_once < grow_ps / 5
    assert dynamic_energy_per_cycle_j(dict(once.parts)["head input"], tgt, Activity()) > 0
    bw = binary_weight_design(shapes, act_bits=8, parallelism=parallelism, head=head, head_per_sequence=True)
    assert bw.result_cycles == hc and bw.sequence_parts == once.sequence_parts
    with pytest.raises(SCValueError, match="needs a head"):
        fixed_point_design(shapes, bits=8, head_per_sequence=True)
    with pytest.raises(SCValueError, match="true or false"):
        fixed_point_design(shapes, bits=8, head=head, head_per_sequence="yes")


def test_model_helpers_and_compiled_cost_report():
    """cost_report's baselines of a compiled LastStep model run the head once per sequence."""
    from compiler.models import lstm_model

    from sccompiler.cost.netlist_cost import cost_report
    from sccompiler.design import compile_model

    per_step = lstm_model(I=4, H=8, dense=10, seed=1)
    k = max(i for i, lay in enumerate(per_step.layers) if lay.kind in ("lstm", "gru"))
    last = per_step.with_layers(per_step.layers[:k + 1] + (LastStep("last"),) + per_step.layers[k + 1:])
    assert head_runs_once(last) and not head_runs_once(per_step)
    assert head_shape(last) == head_shape(per_step) == (8, 10) and layer_shapes(last) == layer_shapes(per_step)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 8, 4))
    cfg = {"length": 64, "disable": ["correlation_report", "accuracy_report"]}
    reps = {}
    for name, m in (("per_step", per_step), ("last", last)):
        d = compile_model(m, cfg, calibration=x)
        reps[name] = cost_report(d.netlist, m, d.config, steps=32)
    for bname, b in reps["last"]["designs"].items():
        if bname == reps["last"]["sc"]:
            continue
        ref = reps["per_step"]["designs"][bname]
        assert b["parts"]["head rows" if "head rows" in b["parts"] else "head lanes"]["energy_per_inference_j"] \
            < ref["parts"]["head rows" if "head rows" in ref["parts"] else "head lanes"]["energy_per_inference_j"] / 5
        assert b["cost"]["latency_cycles"] <= ref["cost"]["latency_cycles"]


def test_explore_baselines_on_a_last_step_model():
    _, last = _classifier("gru", layers=1, head=3, seed=2)
    x = np.random.default_rng(5).uniform(-1, 1, (6, 5, 3))
    ref = forward(last, x)
    ctx = TrialContext(last, x, None, None, ref, x)
    rows = run_baselines(ctx, "asic-generic", bits=(6, 8))
    assert rows and all(r["state"] == "ok" for r in rows), rows
    err = {r["bits"]: r["values"]["error"] for r in rows if r["parallelism"] is None}
    want = float(np.mean(np.abs(FixedPointModel.from_model(last, 8).forward_float(x) - ref)))
    assert err[8] == pytest.approx(want, rel=1e-12) and err[8] < err[6]
    p = next(r for r in rows if r["bits"] == 8 and r["parallelism"] is None)
    d = fixed_point_design(layer_shapes(last), bits=8, head=(6, 3), head_per_sequence=True)
    assert p["values"]["latency"] == pytest.approx(d.estimate("asic-generic", steps=5).latency_s, rel=1e-12)
