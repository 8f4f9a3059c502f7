"""Baselines, the SC reference datapath, the ratio report and ``scc cost``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from sccompiler.cost import (
    RecurrentShape,
    binary_weight_design,
    compare,
    cost_model,
    fixed_point_design,
    parallelism_for_latency,
    to_markdown,
    xnor_lstm_reference_design,
    xnor_lstm_reference_inventory,
)
from sccompiler.cost.baselines import CELL_STAGES
from sccompiler.cost.primitives import tree_levels
from sccompiler.errors import SCValueError, UnsupportedOpError


def kinds(design_or_inv) -> dict[str, int]:
    """Instances per primitive kind (summed over parameters)."""
    inv = getattr(design_or_inv, "inventory", design_or_inv)
    out: dict[str, int] = {}
    for prim, n in inv:
        out[prim.kind] = out.get(prim.kind, 0) + n
    return out


def ge(design) -> float:
    return design.estimate("asic-generic").gate_equivalents


# ---------------------------------------------------------------- baselines

@pytest.mark.parametrize("i, h", [(3, 5), (10, 20)])
def test_fixed_point_structure(i, h):
    d = fixed_point_design([(i, h)], bits=8)
    k = kinds(d)
    assert k["array_multiplier"] == 4 * h * (i + h) + 3 * h   # one per weight + f*c, i*g, o*tanh(c)
    assert k["adder_tree"] == 4 * h and k["activation_lut"] == 4 * h + h
    weights = dict(d.parts)["weights"]
    assert weights.estimate().memory_bits == 4 * h * (i + h) * 8 + 4 * h * 8
    assert d.step_cycles == (1 + tree_levels(i + h + 1) + 1 + CELL_STAGES["lstm"],)


def test_accumulate_only_has_no_weight_multipliers():
    i, h = 6, 4
    b = binary_weight_design([(i, h)], weights="binary", act_bits=8)
    t = binary_weight_design([(i, h)], weights="ternary", act_bits=8)
    assert kinds(b)["array_multiplier"] == 3 * h and kinds(b)["conditional_negate"] == 4 * h * (i + h)
    assert kinds(t)["ternary_select"] == 4 * h * (i + h)
    cells_b, cells_t = b.inventory.to_cells(), t.inventory.to_cells()
    assert cells_t["AND2"] - cells_b["AND2"] == 4 * h * (i + h) * 8     # zero gating
    assert ge(t) > ge(b) > 0 and ge(fixed_point_design([(i, h)])) > ge(b)


def test_gru_has_three_gate_rows():
    d = fixed_point_design([(5, 7)], cell="gru")
    assert kinds(d)["adder_tree"] == 3 * 7 and kinds(d)["activation_lut"] == 3 * 7


@pytest.mark.parametrize("builder", [
    lambda h: fixed_point_design([(16, h)]), lambda h: binary_weight_design([(16, h)]),
    lambda h: xnor_lstm_reference_design([(16, h)], 64),
])
def test_area_grows_quadratically_with_hidden_size(builder):
    a = [ge(builder(h)) for h in (32, 64, 128, 256)]
    ratios = [a[j + 1] / a[j] for j in range(3)]
    assert all(r > 2.2 for r in ratios), ratios           # superlinear: the H x H recurrent matrix
    assert 3.0 < ratios[-1] < 4.5, ratios                 # approaching the quadratic factor 4


@given(st.integers(1, 40), st.integers(1, 40), st.integers(2, 12))
def test_baselines_monotone(i, h, bits):
    assert ge(fixed_point_design([(i, h + 1)], bits=bits)) >= ge(fixed_point_design([(i, h)], bits=bits))
    assert ge(fixed_point_design([(i, h)], bits=bits + 1)) >= ge(fixed_point_design([(i, h)], bits=bits))
    assert ge(binary_weight_design([(i + 1, h)], act_bits=bits)) >= ge(binary_weight_design([(i, h)], act_bits=bits))


def test_folded_latency_and_equal_latency_parallelism():
    i, h = 20, 30
    macs = 4 * h * (i + h)
    for p in (1, 7, 120, 121, 500):
        d = fixed_point_design([(i, h)], parallelism=p)
        assert d.step_cycles == (math.ceil(macs / p) + 2 + CELL_STAGES["lstm"],)
        assert kinds(d)["accumulator"] == p
    target = 101
    p = parallelism_for_latency([(i, h)], target)
    assert fixed_point_design([(i, h)], parallelism=p).step_cycles[0] <= target
    assert fixed_point_design([(i, h)], parallelism=p - 1).step_cycles[0] > target
    with pytest.raises(SCValueError, match="step_cycles"):
        parallelism_for_latency([(i, h)], 5)
    with pytest.raises(SCValueError, match="parallelism"):
        fixed_point_design([(i, h)], parallelism=macs + 1)


def test_baseline_argument_errors():
    with pytest.raises(SCValueError, match="bits"):
        fixed_point_design([(4, 4)], bits=1)
    with pytest.raises(SCValueError, match="weights"):
        binary_weight_design([(4, 4)], weights="quaternary")
    with pytest.raises(SCValueError, match="layers"):
        fixed_point_design([])
    with pytest.raises(UnsupportedOpError):
        fixed_point_design([(4, 4)], cell="rnn")


# ---------------------------------------------------------------- SC reference datapath

@pytest.mark.parametrize("i, h", [(3, 5), (12, 7)])
def test_reference_structure(i, h):
    L = 128
    inv = xnor_lstm_reference_inventory(i, h, L)
    k = kinds(inv)
    assert k["xnor"] == 4 * h * (i + h) + 3 * h
    assert k["apc"] == 4 * h + h
    assert k["wfsm"] == 5 * h
    assert k["sng"] == i + 4 * h + 2 * h                      # inputs, biases, c and h re-encoding
    assert k["lfsr"] == i + 4 * h + 2 * h + 5 * h             # one source per comparator by default
    assert inv.total("rng") == k["lfsr"] and inv.total("sng") == k["sng"]
    row_apcs = [n for p, n in inv if p.kind == "apc" and dict(p.params)["inputs"] == i + h + 1]
    assert row_apcs == [4 * h]
    shared = xnor_lstm_reference_inventory(i, h, L, sngs_per_rng=4)
    assert kinds(shared)["lfsr"] == math.ceil((i + 11 * h) / 4)
    binary_h = xnor_lstm_reference_inventory(i, h, L, hidden_encoding="binary", input_encoding="binary")
    assert kinds(binary_h)["sng"] == 4 * h + h
    ternary = xnor_lstm_reference_inventory(i, h, L, weight_bits=2)
    assert kinds(ternary)["and"] == 4 * h * (i + h)


def test_reference_design_latency_and_layers():
    d = xnor_lstm_reference_design([(10, 20), (20, 20)], 256)
    assert d.step_cycles == (257, 257)
    assert d.latency_cycles(3) == 2 * 257 + 2 * 257
    single = xnor_lstm_reference_design([(10, 20)], 256)
    # the second layer reads layer 1's h streams: no input SNGs of its own
    assert kinds(d)["sng"] == kinds(single)["sng"] + 6 * 20
    with pytest.raises(UnsupportedOpError, match="LSTM layers only"):
        xnor_lstm_reference_design([RecurrentShape("gru", 4, 4)], 64)
    with pytest.raises(SCValueError, match="sng_bits"):
        xnor_lstm_reference_inventory(4, 4, 256, sng_bits=20, lfsr_width=16)
    with pytest.raises(SCValueError, match="hidden_encoding"):
        xnor_lstm_reference_inventory(4, 4, 256, hidden_encoding="analog")


@given(st.integers(1, 30), st.integers(1, 30), st.integers(2, 1024))
def test_reference_monotone(i, h, length):
    base = ge(xnor_lstm_reference_design([(i, h)], length))
    assert ge(xnor_lstm_reference_design([(i, h + 1)], length)) >= base
    assert ge(xnor_lstm_reference_design([(i + 1, h)], length)) >= base
    assert ge(xnor_lstm_reference_design([(i, h)], 2 * length)) >= base


# ---------------------------------------------------------------- report

def test_compare_ratios_match_the_numbers():
    sc = xnor_lstm_reference_design([(8, 16)], 64)
    fx = fixed_point_design([(8, 16)], bits=8)
    bw = binary_weight_design([(8, 16)], parallelism=50)
    for target in ("asic-generic", "fpga-lut6"):
        out = compare(sc, [fx, bw], target, steps=3)
        s = sc.estimate(target, steps=3)
        for base in (fx, bw):
            b = base.estimate(target, steps=3)
            r = out["ratios"][base.name]
            assert r["area"] == pytest.approx(b.area / s.area)
            assert r["energy_per_inference_j"] == pytest.approx(b.energy_per_inference_j / s.energy_per_inference_j)
            assert r["latency_s"] == pytest.approx(b.latency_s / s.latency_s)
            assert r["complexity"] == pytest.approx(b.complexity / s.complexity)
            assert out["designs"][base.name]["cost"]["latency_cycles"] == b.latency_cycles
            if target == "asic-generic":  # ASIC area is additive over parts (FPGA packing is not)
                parts = out["designs"][base.name]["parts"]
                assert sum(p["area"] for p in parts.values()) == pytest.approx(b.area, rel=1e-9)
        json.dumps(out)  # JSON-able
        md = to_markdown(out)
        for name in (sc.name, fx.name, bw.name):
            assert f"| {name} |" in md
        assert f"{out['ratios'][fx.name]['area']:.3g}x" in md
    with pytest.raises(SCValueError, match="baselines"):
        compare(sc, [], "asic-generic")
    with pytest.raises(SCValueError, match="unique"):
        compare(sc, [fx, fx], "asic-generic")


def test_cost_model_equal_latency_baselines():
    out = cost_model([(16, 32)], length=128, bits=6)
    p = out["equal_latency_parallelism"]
    assert set(out["ratios"]) == {"fixed6", f"fixed6-P{p}", "binary-acc6", f"binary-acc6-P{p}"}
    sc_cycles = out["designs"][out["sc"]]["cost"]["latency_cycles"]
    assert out["designs"][f"fixed6-P{p}"]["cost"]["latency_cycles"] <= sc_cycles
    assert out["ratios"][f"fixed6-P{p}"]["latency_s"] <= 1.0


# ---------------------------------------------------------------- CLI

def _tiny_model(cell: str = "lstm"):
    from sccompiler.ir.model import GRU, LSTM, InputSpec, Model, Tensor

    rng = np.random.default_rng(0)
    i, h = 4, 3
    g = 4 if cell == "lstm" else 3
    cls = LSTM if cell == "lstm" else GRU
    lay = cls(name="rnn", input_size=i, hidden_size=h,
              w_ih=Tensor(np.sign(rng.standard_normal((g * h, i)))),
              w_hh=Tensor(np.sign(rng.standard_normal((g * h, h)))))
    return Model((lay,), InputSpec("features", i), name="tiny")


def _run(args, model, monkeypatch, tmp_path):
    import sccompiler.cli.cost_cmd as cmd
    from sccompiler.cli import cli

    monkeypatch.setattr(cmd, "_load_model", lambda path, fmt: model)
    (tmp_path / "m.json").write_text("{}")
    return CliRunner().invoke(cli, ["cost", str(tmp_path / "m.json"), *args])


def test_cli_json_keys(monkeypatch, tmp_path):
    res = _run(["--json", "--length", "64", "--bits", "6"], _tiny_model(), monkeypatch, tmp_path)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert {"target", "designs", "ratios", "layers", "equal_latency_parallelism", "model", "convention",
            "weights", "length", "bits"} <= set(out)
    assert out["layers"] == [{"cell": "lstm", "input_size": 4, "hidden_size": 3}]
    assert out["sc"] == "sc-xnor-L64" and "fixed6" in out["ratios"]
    assert {"area", "energy_per_inference_j", "latency_s", "complexity"} <= set(out["ratios"]["fixed6"])


def test_cli_markdown_and_errors(monkeypatch, tmp_path):
    res = _run(["--target", "fpga-lut6"], _tiny_model(), monkeypatch, tmp_path)
    assert res.exit_code == 0, res.output
    assert "Target `fpga-lut6`" in res.output and "| fixed8 |" in res.output
    bad = _run(["--target", "nope"], _tiny_model(), monkeypatch, tmp_path)
    assert bad.exit_code == 1 and "error: unknown target 'nope'" in bad.output
    gru = _run([], _tiny_model("gru"), monkeypatch, tmp_path)
    assert gru.exit_code == 1 and "LSTM layers only" in gru.output
    assert "Traceback" not in bad.output + gru.output


def test_cli_with_native_model(tmp_path):
    from sccompiler.cli import cli
    save_model = pytest.importorskip("sccompiler.frontends").save_model
    path = save_model(_tiny_model(), tmp_path / "tiny")
    res = CliRunner().invoke(cli, ["cost", str(path), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["model"]["name"] == "tiny"


def test_docs_table_matches_the_model():
    """docs/cost-model.md quotes the 1x300 ratios; keep it in step with the formulas and targets."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "cost-model.md").read_text()
    out = cost_model([(300, 300)], length=256, bits=8)
    p = out["equal_latency_parallelism"]
    assert f"P = {p}" in doc
    for name in ("fixed8", f"fixed8-P{p}"):
        r = out["ratios"][name]
        for metric in ("area", "energy_per_inference_j", "complexity"):
            v = r[metric]
            text = f"{v:.3g}x" if v < 10 else f"{v:.1f}x"
            assert text in doc, (name, metric, text)


def test_baselines_carry_the_dense_head():
    """A model with a dense head: the baselines get the same head as one more pipeline stage
    (out x in products), the folded one within the same step budget."""
    from sccompiler.cost import fixed_point_design, parallelism_for_latency

    plain = fixed_point_design([(4, 8)], bits=8)
    headed = fixed_point_design([(4, 8)], bits=8, head=(8, 3))
    assert len(headed.step_cycles) == len(plain.step_cycles) + 1
    assert headed.ops_per_step == plain.ops_per_step + 24
    assert dict(headed.params)["head"] == (8, 3)
    p = parallelism_for_latency([(4, 8)], 40, head=(8, 300))
    assert p >= -(-2400 // 38)
    folded = fixed_point_design([(4, 8)], bits=8, parallelism=p, head=(8, 300))
    assert max(folded.step_cycles) <= 40
