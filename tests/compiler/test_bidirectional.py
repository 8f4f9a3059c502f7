"""Bidirectional LSTM/GRU compiled (docs/semantics.md, "Bidirectional layers"): the forward and
backward directions are two recurrent datapaths, the backward one running the buffered sequence
reversed in time, and a ``concat`` layer reading both outputs out of the sequence buffers.

Oracles: both runtimes (and the error budget's mixed runtime) bit-exact, every node; the backward
direction equals its own datapath run alone on the reversed sequence (time order by construction,
not by the code under test); the concat is exactly (forward h_t, backward h_t); each direction's
stream error against the design reference, teacher-forced, falls as 1/sqrt(L) (fixed seeds); the
SC output approaches the quantized reference; sequences longer than T_max are refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sccompiler.analysis.mixed import MixedRuntime
from sccompiler.design import compile_model
from sccompiler.errors import SCValueError
from sccompiler.ir.sc import LayerOptions, SCNetlist
from sccompiler.reference import forward
from sccompiler.runtime.engine import Runtime

from .bidir_models import bidir_model
from .models import FAST, assert_bit_exact

B, T = 4, 6
LENGTHS = (64, 256, 1024)


def _x(seed=1, steps=T, exact=False):
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], (B, steps, 3)) if exact else rng.uniform(-1, 1, (B, steps, 3))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("shape", ["per_step_head", "last_step_head", "second_layer"])
def test_lowered_and_bit_exact(kind, shape):
    model = bidir_model(kind, dense=2, second=shape == "second_layer", last=shape != "per_step_head")
    x = _x()
    design = compile_model(model, {"length": 64, **FAST}, calibration=x)
    layers = design.netlist.layers
    assert [(p.name, p.kind, p.options.direction) for p in layers[:3]] == [
        ("rnn", kind, "forward"), ("rnn.reverse", kind, "backward"), ("rnn.concat", "concat", None)]
    assert {p.options.max_steps for p in layers[:3]} == {T}             # T_max: the calibration's T
    y, runs = assert_bit_exact(design.netlist, x)
    np.testing.assert_array_equal(MixedRuntime(design.netlist).run(x), y)
    np.testing.assert_array_equal(design.simulate(x), y)
    cat = runs["rnn.concat"].out
    np.testing.assert_array_equal(cat, np.concatenate([runs["rnn"].out, runs["rnn.reverse"].out], axis=-1))
    assert cat.shape == (B, T, 8)
    assert y.shape == ((B, T, 2) if shape == "per_step_head" else (B, 1, 2))
    if shape == "last_step_head":                # the head reads (forward h_{T-1}, backward h_{T-1})
        np.testing.assert_array_equal(runs["last"].out[:, 0], cat[:, -1])
    if shape == "second_layer":                  # the next layer reads the concat, per step
        np.testing.assert_array_equal(runs["rnn2"].trace["rnn2.x"], cat)


def _alone(netlist: SCNetlist, layer: str) -> SCNetlist:
    """The netlist of ``layer``'s datapath alone (same nodes, sources and seeds), an ordinary
    forward layer reading the model input."""
    nodes = [n for n in netlist if n.layer in ("model", layer)]
    plan = next(p for p in netlist.layers if p.name == layer)
    plan = dataclasses.replace(plan, options=dataclasses.replace(plan.options, direction=None, max_steps=None))
    return netlist.replace(nodes=tuple(nodes), layers=(plan,), metadata={**netlist.metadata, "output": f"{layer}.h"})


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_backward_direction_runs_the_reversed_sequence(kind):
    model = bidir_model(kind, seed=3)
    x = _x(2)
    design = compile_model(model, {"length": 32, **FAST}, calibration=x)
    _, runs = Runtime(design.netlist).run(x, trace=True)
    alone, alone_runs = Runtime(_alone(design.netlist, "rnn.reverse")).run(x[:, ::-1], trace=True)
    np.testing.assert_array_equal(runs["rnn.reverse"].out, alone[:, ::-1])
    for k, v in alone_runs["rnn.reverse"].trace.items():
        np.testing.assert_array_equal(runs["rnn.reverse"].trace[k], v[:, ::-1], err_msg=k)
    fwd, _ = Runtime(_alone(design.netlist, "rnn")).run(x)
    np.testing.assert_array_equal(runs["rnn"].out, fwd)
    # the oracle tells the time orders apart: the reversed run is not the forward-order run
    other, _ = Runtime(_alone(design.netlist, "rnn.reverse")).run(x)
    assert not np.array_equal(other, alone)


def _ratio_ok(errs):
    """As tests/compiler/test_datapath.py: every error <= 3/sqrt(L), falling, 64 -> 1024 ratio
    in [2.5, 6] (4 expected for 1/sqrt(L))."""
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    for L, e in zip(LENGTHS, errs):
        assert e <= 3 / np.sqrt(L), (L, e)
    assert 2.5 <= errs[0] / errs[-1] <= 6.0, errs


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_both_directions_converge(kind):
    model = bidir_model(kind, H=6, seed=4, second=True)
    x = _x(5)
    design = compile_model(model, {"length": 256, **FAST}, calibration=x)
    traces = {L: design.trace(x, length=L) for L in LENGTHS}
    for lay in ("rnn", "rnn.reverse", "rnn2"):
        _ratio_ok([np.abs(tr[lay]["sc"][f"{lay}.h"] - tr[lay]["teacher_forced"]["h"]).mean()
                   for tr in traces.values()])
    ref = forward(model, x)
    out_err = [np.abs(tr["output"] - ref).mean() for tr in traces.values()]
    assert out_err[0] > out_err[1] > out_err[2] and out_err[0] / out_err[2] > 2.5, out_err
    tr = traces[64]
    both = np.concatenate([tr["rnn"]["sc"]["rnn.h"], tr["rnn.reverse"]["sc"]["rnn.reverse.h"]], -1)
    np.testing.assert_array_equal(tr["rnn.concat"]["sc"]["rnn.concat"], both)
    assert tr["rnn.reverse"]["reference"]["h"].shape == (B, T, 6)


def test_sign_hidden_bidirectional_is_bit_exact_and_tables_exact():
    """sign(h) with binary inputs: table gates (exact XNOR + popcount) in both directions."""
    model = bidir_model("lstm", seed=6, sign=True, last=True, dense=3)
    x = _x(7, exact=True)
    design = compile_model(model, {"length": 64, **FAST}, calibration=x)
    assert [p.options.gate_input for p in design.netlist.layers[:2]] == ["table", "table"]
    y, runs = assert_bit_exact(design.netlist, x)
    assert set(np.unique(runs["rnn.concat"].out)) <= {-1.0, 1.0}


def test_sequences_longer_than_the_buffers_are_refused():
    model = bidir_model("gru", seed=8)
    cfg = {"length": 32, "max_steps": 8, "input_range": 1.0, **FAST}
    design = compile_model(model, cfg, calibration=_x(1, steps=4))
    assert {p.options.max_steps for p in design.netlist.layers} == {8}
    design.simulate(_x(2, steps=8))
    with pytest.raises(SCValueError, match=r"9 time steps exceed the 8 steps \(max_steps\)"):
        design.simulate(_x(2, steps=9))
    with pytest.raises(SCValueError, match="max_steps"):
        Runtime(design.netlist).run(_x(2, steps=9))
    # without max_steps: the calibration sequences' length
    d2 = compile_model(model, {"length": 32, "input_range": 1.0, **FAST}, calibration=_x(1, steps=4))
    with pytest.raises(SCValueError, match="exceed the 4 steps"):
        d2.simulate(_x(2, steps=5))


def test_netlist_layer_options_round_trip():
    opts = LayerOptions(direction="backward", max_steps=12)
    assert LayerOptions.from_json(opts.to_json()) == opts


# ---------------------------------------------------------------------------------------- cost
def _cost_design(shape):
    model = bidir_model("lstm", H=4, seed=9, dense=2, second=shape == "second_layer", last=shape == "last_step_head")
    x = _x(3)
    return compile_model(model, {"length": 32, "max_steps": 10, **FAST}, calibration=x)


@pytest.mark.parametrize("shape, pipelined, steps_c", [("per_step_head", 1, T), ("last_step_head", 1, 1),
                                                       ("second_layer", 2, T)])
def test_timing_is_the_buffered_schedule(shape, pipelined, steps_c):
    from sccompiler.cost.netlist_cost import cost_report
    from sccompiler.cost.timing import netlist_timing

    design = _cost_design(shape)
    P = 32
    tm = netlist_timing(design.netlist, steps=T)
    # forward T steps, backward T steps, then the pipelined rest over T' steps, the flush cycle
    want = 2 * T * P + (steps_c + pipelined - 1) * P + 1
    assert (tm.serial, tm.pipeline_depth, tm.latency_cycles) == (2, pipelined, want)
    assert tm.input_cycles == T * P and tm.done_cycles == want + 1
    rep = cost_report(design.netlist, design.model, design.config, steps=T)
    assert rep["designs"][next(iter(rep["designs"]))]["cost"]["latency_cycles"] == want


def test_sequence_buffers_are_costed():
    from sccompiler.cost.inventory import dynamic_energy_per_cycle_j
    from sccompiler.cost.netlist_cost import buffer_widths, cost_report, netlist_inventory
    from sccompiler.cost.primitives import sequence_buffer

    design = _cost_design("per_step_head")
    nl = design.netlist
    plan = nl.plan("rnn.concat")
    widths = buffer_widths(nl, plan)
    bits = nl.plan("rnn").options.sng_bits + 1                         # real inputs: SNG thresholds X
    hb = int(nl.node("rnn.h").params["bits"])                          # stream h: its hold register
    assert widths == {"input": 3 * bits, "forward_h": 4 * hb, "backward_h": 4 * hb}
    inv = netlist_inventory(nl)["rnn.concat"]
    cells = inv.to_cells()
    assert cells["REGFILE_BIT"] == 10 * sum(widths.values())           # T_max = max_steps = 10 entries
    assert cells["MUX2"] == 9 * sum(widths.values())                   # a 10:1 read mux per bit
    assert sequence_buffer(5, 1).cells() == {"REGFILE_BIT": 5, "AND2": 1}
    rep = cost_report(nl, design.model, design.config, steps=T)
    buf = rep["sequence_buffers"]["rnn.concat"]
    assert buf["bits"] == 10 * sum(widths.values()) and buf["max_steps"] == 10
    # each direction is clock-gated outside its T P cycles: its part's energy is the ungated
    # estimate less its switching energy over the other cycles
    from sccompiler.cost import load_target

    sc = rep["designs"][rep["sc"]]
    cycles = sc["cost"]["latency_cycles"]
    tgt = load_target(design.config.cost_target)
    for layer in ("rnn", "rnn.reverse"):
        part = netlist_inventory(nl)[layer]
        full = part.estimate(tgt, cycles=cycles, activity=_settled(32)).energy_per_inference_j
        want = full - dynamic_energy_per_cycle_j(part, tgt, _settled(32)) * (cycles - T * 32)
        assert sc["parts"][layer]["energy_per_inference_j"] == pytest.approx(want, rel=1e-12)
        assert want < full


def _settled(P):
    from sccompiler.cost import Activity

    return Activity(binary=Activity().binary / P)


def test_baselines_cost_both_directions():
    from sccompiler.cost.baselines import layer_shapes

    shapes = layer_shapes(bidir_model("gru", H=5, second=True))
    assert [(s.cell, s.input_size, s.hidden_size) for s in shapes] == [("gru", 3, 5), ("gru", 3, 5), ("gru", 10, 5)]


def test_save_load_error_budget_and_length_search(tmp_path):
    from sccompiler.analysis.error_budget import error_budget
    from sccompiler.analysis.mixed import element_classes
    from sccompiler.design import CompiledDesign

    model = bidir_model("gru", seed=10, last=True, dense=2)
    x = _x(11)
    cfg = {"length": 32, "input_range": 1.0, "target_error": 0.2, "schedule": {"lengths": [16, 32, 64]},
           "disable": ["correlation_report", "cost"]}
    design = compile_model(model, cfg, calibration=x)
    lengths = design.info["schedule"]["lengths"]
    assert set(lengths) == {"rnn", "rnn.reverse"} and lengths["rnn"] == lengths["rnn.reverse"]   # one L per layer
    design.save(tmp_path / "d")
    loaded = CompiledDesign.load(tmp_path / "d")
    assert [p.options for p in loaded.netlist.layers] == [p.options for p in design.netlist.layers]
    np.testing.assert_array_equal(loaded.simulate(x), design.simulate(x))
    mine = [c for c in element_classes(design.netlist) if c.startswith("rnn.reverse/")][:2]
    assert mine
    budget = error_budget(design, x, lengths=[32], classes=mine)
    assert list(budget.classes) == mine


# ------------------------------------------------------------------------- fixed-point baseline
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_fixed_point_baseline_runs_both_directions(kind):
    from sccompiler.ir.model import InputSpec, Model, direction_layers
    from sccompiler.quantize.fixed_point import FixedPointModel

    model = bidir_model(kind, seed=12, second=True, last=True, dense=2)
    x = _x(13)
    fpm = FixedPointModel.from_model(model, 8)
    assert [(lay.name, lay.direction) for lay in fpm.layers] == [("rnn", "forward"), ("rnn.reverse", "backward"),
                                                                  ("rnn2", "forward")]
    xi = fpm.quantize_input(x)
    res = fpm.forward(xi)
    # exact oracle: each direction is the unidirectional fixed-point layer on its own time order
    fwd, bwd = direction_layers(model.layers[0])
    for d, seq, flip in ((fwd, xi, False), (bwd, xi[:, ::-1], True)):
        alone = FixedPointModel.from_model(Model((d,), InputSpec("features", 3)), 8).forward(seq)[d.name]["h"]
        np.testing.assert_array_equal(res[d.name]["h"], alone[:, ::-1] if flip else alone)
    cat = np.concatenate([res["rnn"]["h"], res["rnn.reverse"]["h"]], axis=-1)
    rnn2 = FixedPointModel.from_model(Model((model.layers[1],), InputSpec("features", 8)), 8).forward(cat)
    np.testing.assert_array_equal(res["rnn2"]["h"], rnn2["rnn2"]["h"])
    # k bits -> the quantized reference: the error falls with k
    ref = forward(model, x)
    errs = [np.abs(FixedPointModel.from_model(model, k).forward_float(x) - ref).mean() for k in (6, 10, 14)]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 0.01, errs
    # a bidirectional last layer: the output is the concat of both directions
    only = bidir_model(kind, seed=12)
    out = FixedPointModel.from_model(only, 12).forward_float(x)
    assert out.shape == (B, T, 8) and np.abs(out - forward(only, x)).mean() < 0.02


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "16"])
def test_max_steps_config_is_checked(bad):
    from sccompiler.config import config_from_dict
    from sccompiler.errors import ConfigError

    with pytest.raises(ConfigError, match="max_steps"):
        config_from_dict({"max_steps": bad})
    assert config_from_dict({"max_steps": 16}).max_steps == 16


def test_max_steps_shorter_than_the_calibration_is_refused():
    from sccompiler.errors import ConfigError

    with pytest.raises(ConfigError, match=r"max_steps: 4 steps .* \(6 steps\); use --set max_steps=6"):
        compile_model(bidir_model("lstm"), {"length": 32, "max_steps": 4, **FAST}, calibration=_x(1))


@pytest.mark.parametrize("variant", ["embedding", "ternary_hidden"])
def test_embedding_input_and_ternary_hidden(variant):
    from sccompiler.ir.model import Embedding, InputSpec, Tensor

    if variant == "embedding":
        base = bidir_model("lstm", seed=14, dense=2)
        emb = Embedding("emb", num_embeddings=5, embedding_dim=3,
                        weight=Tensor(np.sign(np.random.default_rng(0).normal(size=(5, 3)))))
        model = dataclasses.replace(base, layers=(emb,) + base.layers, input=InputSpec("tokens", 5))
        x = np.random.default_rng(1).integers(0, 5, (B, T))
        cfg = {"length": 64, "defaults": {"hidden": "sign"}, **FAST}
    else:
        base = bidir_model("gru", seed=15)
        model = base.with_layers((dataclasses.replace(base.layers[0], hidden_activation="ternary",
                                                      hidden_threshold=0.3),))
        x = _x(16)
        cfg = {"length": 64, "input_range": 1.0, **FAST}
    design = compile_model(model, cfg, calibration=x)
    y, runs = assert_bit_exact(design.netlist, x)
    if variant == "embedding":                  # both directions read the embedding's output
        seq = runs["emb"].out
        np.testing.assert_array_equal(runs["rnn"].trace["rnn.x"], seq)
        np.testing.assert_array_equal(runs["rnn.reverse"].trace["rnn.reverse.x"], seq)
        assert [p.options.gate_input for p in design.netlist.layers[1:3]] == ["table", "table"]
    else:
        assert set(np.unique(y)) <= {-1.0, 0.0, 1.0} and y.shape == (B, T, 8)


def test_accuracy_report_compares_with_the_fixed_point_baseline():
    model = bidir_model("gru", seed=17, dense=2, last=True)
    x = _x(18)
    design = compile_model(model, {"length": 32, "input_range": 1.0, "disable": ["correlation_report", "cost"]},
                           calibration=x)
    fixed = design.info["accuracy"]["fixed_point"]
    assert fixed is not None and fixed["bits"] == 8 and 0 < fixed["error_vs_quantized"] < 0.05
