"""Length scheduler (target met on held-back inputs, impossible targets) and the CLI verbs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sccompiler.cli import cli
from sccompiler.cost import netlist_timing
from sccompiler.design import compile_model
from sccompiler.errors import SCValueError
from sccompiler.frontends.native import save_model

from .models import lstm_model


def test_scheduler_meets_target_on_held_back():
    """Scheduled on 12 calibration sequences, checked on 12 held-back ones of the same kind."""
    rng = np.random.default_rng(21)
    calib, held = rng.uniform(-1, 1, (12, 5, 3)), rng.uniform(-1, 1, (12, 5, 3))
    target = 0.09
    d = compile_model(lstm_model(layers=2), {"target_error": target, "disable": ["correlation_report", "cost"]},
                      calibration=calib)
    s = d.info["schedule"]
    assert s["measured_error"] <= target
    assert d.lengths["lstm0"] == s["lengths"]["lstm0"] <= s["length"]
    shorter = [p for p in s["curve"] if p["length"] < s["length"]]
    assert all(p["error"] > target for p in shorter)       # the uniform choice is the shortest passing one
    assert d.error(x=calib) == pytest.approx(s["measured_error"])
    assert d.error(held) <= target
    # one timing model: the emitted RTL steps every timed layer with the longest L, no overhead cycle
    assert s["timing"]["cycles_per_step"]["lstm0"] == max(d.lengths.values())
    assert s["timing"] == netlist_timing(d.netlist, steps=calib.shape[1], clock_mhz=s["timing"]["clock_mhz"]).to_json()


def test_impossible_target_reports_best():
    x = np.random.default_rng(2).uniform(-1, 1, (4, 4, 3))
    with pytest.raises(SCValueError, match="not reachable: the best measured"):
        compile_model(lstm_model(), {"target_error": 1e-4, "schedule": {"lengths": [16, 32, 64, 128]},
                                     "disable": ["correlation_report", "cost"]}, calibration=x)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    save_model(lstm_model(dense=2), root / "model")
    np.save(root / "x.npy", np.random.default_rng(5).uniform(-1, 1, (3, 4, 3)))
    return root


def test_cli_compile_simulate_cost(files):
    r = CliRunner()
    out = files / "out"
    res = r.invoke(cli, ["compile", str(files / "model"), "--calibration", str(files / "x.npy"), "--length", "64",
                         "-o", str(out)])
    assert res.exit_code == 0, res.output
    for f in ("design.json", "arrays.npz", "report.json", "report.md", "model"):
        assert (out / f).exists()
    stages = sorted(p.name for p in (out / "stages").iterdir())
    assert stages[0] == "00_check_model.json" and len(stages) == 13
    lowered = json.loads((out / "stages" / stages[4]).read_text())["ir"]
    assert lowered["format"] == "sccompiler-netlist" and lowered["counts"].get("encode", 0) > 0
    placed = json.loads((out / "stages" / "07_insert_sngs.json").read_text())["ir"]
    assert "encode" not in placed["counts"] and placed["counts"]["sng"] == lowered["counts"]["encode"]
    rep = json.loads((out / "report.json").read_text())
    curve = rep["accuracy"]["curve"]
    assert [p["length"] for p in curve] == [16, 32, 64, 128]
    assert curve[0]["error_vs_design_reference"] > curve[-1]["error_vs_design_reference"]
    assert "## Accuracy vs stream length" in (out / "report.md").read_text()
    res = r.invoke(cli, ["simulate", str(out), "--inputs", str(files / "x.npy"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["shape"] == [3, 4, 2] and doc["error_vs_quantized_reference"]["mean_abs"] < 0.5
    from sccompiler.design import CompiledDesign

    assert [st["pass"] for st in CompiledDesign.load(out).report()["stages"]][0] == "check_model"
    res = r.invoke(cli, ["compile", "--list-passes"])
    assert res.exit_code == 0 and "synthesize_fsms" in res.output and "flow default:" in res.output
    res = r.invoke(cli, ["cost", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["sc"].startswith("sc-compiled")
    # --steps applies to a compiled design; --length cannot change it: refused, never ignored
    one, many = (json.loads(r.invoke(cli, ["cost", str(out), "--json", *a]).output) for a in ([], ["--steps", "24"]))
    assert (one["steps"], many["steps"]) == (1, 24)
    energy = [d["designs"][one["sc"]]["cost"]["energy_per_inference_j"] for d in (one, many)]
    assert energy[1] > 5 * energy[0]
    res = r.invoke(cli, ["cost", str(out), "--length", "1024"])
    assert res.exit_code != 0 and res.output.startswith("error: --length cannot change a compiled design")
    # no overwrite without --force; with it, fine
    res = r.invoke(cli, ["compile", str(files / "model"), "-o", str(out)])
    assert res.exit_code != 0 and "already exists" in res.output
    res = r.invoke(cli, ["compile", str(files / "model"), "--calibration", str(files / "x.npy"), "--length", "32",
                         "-o", str(out), "--force", "--disable", "correlation_report"])
    assert res.exit_code == 0, res.output


def test_cli_errors_leave_nothing(files, tmp_path):
    r = CliRunner()
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults: {gate_input: table}\n")
    out = tmp_path / "o"
    for args in (["--config", str(bad)], ["--length", "8", "--target-error", "0.1"], ["--target-error", "0.1"],
                 ["--disable", "lower_layers"]):
        res = r.invoke(cli, ["compile", str(files / "model"), *args, "-o", str(out)])
        assert res.exit_code != 0
        assert res.output.startswith("error: ") and "Traceback" not in res.output
        assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o")]  # no temp leftovers


def test_netlist_inventory_matches_analytic_reference():
    """The paper-like configuration (integral gates, hidden=stream, cell_range=1, one bias stream
    per row) has exactly the analytic XNOR-LSTM reference's primitive counts, except the cell
    APC's offset adder (H extra ripple adders, listed in the explanations), with private sources
    (the reference's one LFSR per SNG); shared sources need far fewer."""
    from sccompiler.ir.model import Tensor

    m = lstm_model(I=3, H=8)
    lay = m.layers[0]
    m = m.replace_layer(lay.name, lay.replace(b_ih=Tensor(np.full(32, 0.1))))
    x = np.random.default_rng(0).uniform(-1, 1, (4, 5, 3))
    d = compile_model(m, {"length": 256, "sources": "private", "defaults": {"cell_range": 1},
                          "disable": ["correlation_report", "accuracy_report"]}, calibration=x)
    assert d.netlist.layers[0].options.bias_streams == 1
    rc = d.info["cost"]["reference_comparison"]
    mine, ref = dict(rc["netlist"]), dict(rc["reference"])
    assert mine.pop("ripple_adder") == ref.pop("ripple_adder") + 8
    assert mine == ref
    assert any("offset adder" in e for e in rc["explanations"])
    shared = compile_model(m, {"length": 256, "defaults": {"cell_range": 1},
                               "disable": ["correlation_report", "accuracy_report"]}, calibration=x)
    rc = shared.info["cost"]["reference_comparison"]
    assert rc["netlist"]["lfsr"] == shared.netlist.sources["count"] < rc["reference"]["lfsr"] / 10
