"""End-to-end explorations of the quickstart model (tiny data, short L, few trials): a failing
trial is recorded, a resumed study runs no trial twice, a 2-worker Dask LocalCluster run gives a
non-dominated Pareto set, a rebuilt trial reproduces its recorded measurements, and bad input
(existing DIR, unreachable scheduler, constraints no trial meets) is one clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sccompiler as scc
from sccompiler.cost.netlist_cost import cost_report
from sccompiler.design import compile_model
from sccompiler.errors import ConfigError, OutputExistsError
from sccompiler.explore import explore, rebuild_trial
from sccompiler.explore import runner as runner_mod
from sccompiler.explore.objectives import Objective
from sccompiler.explore.pareto import dominates
from sccompiler.metrics import evaluate_metric
from sccompiler.reference import forward

from .conftest import MODEL, write_space

GRID = """
params:
  length: [16, 32, 64]
  defaults.gate_input: [integral_wfsm, table]
objectives: [error, energy]
sampler: grid
trials: 4
seed: 0
"""


def _trials(d):
    return json.loads((d / "trials.json").read_text())["trials"]


def test_failing_trial_recorded_and_resume_runs_nothing_twice(tmp_path, val):
    space, out = write_space(tmp_path, GRID), tmp_path / "run"
    s1 = explore(MODEL, space, val, out, workers=1)
    first = _trials(out)
    assert s1["trials"] == 4 and len(first) == 4
    failed = [r for r in first if r["state"] == "failed"]
    ok = [r for r in first if r["state"] == "ok"]
    # the quickstart's h is multi-level (hidden: stream), so table gates are refused by the compiler
    assert failed and all(r["params"]["defaults.gate_input"] == "table" for r in failed)
    assert all("needs exact (binary/ternary) operands" in r["error"] for r in failed)
    assert ok and all(set(r["values"]) >= {"error", "metric", "area", "energy", "latency", "flip_flops"} for r in ok)
    # an existing DIR without --resume is refused, and left as it was
    with pytest.raises(OutputExistsError, match="--resume"):
        explore(MODEL, space, val, out, workers=1)
    # resume to the whole grid: the first four records are untouched (same timings), two new ones run
    s2 = explore(MODEL, space, val, out, workers=1, resume=True, trials=6)
    second = _trials(out)
    assert s2["trials"] == 6 and [r["number"] for r in second] == list(range(6))
    assert second[:4] == first
    keys = [json.dumps(r["params"], sort_keys=True) for r in second]
    assert len(set(keys)) == 6                  # the grid's 6 points, each run once
    # resuming a finished study runs nothing
    s3 = explore(MODEL, space, val, out, workers=1, resume=True, trials=6)
    assert s3["trials"] == 6 and _trials(out) == second
    report = (out / "report.md").read_text()
    assert "## Verdict" in report and "fixed8" in report
    # the quantized model's own metric on the data, what every trial's metric is judged against
    manifest = json.loads((out / "explore.json").read_text())
    with np.load(val) as npz:
        x, y = npz["x"], npz["y"]
    q = evaluate_metric(manifest["metric"], forward(scc.load_model(MODEL), x), y)
    assert manifest["quantized_metric"] == {"value": q.value, "low": q.low, "high": q.high, "sequences": len(x)}
    assert f"The quantized model itself: {manifest['metric']}" in report
    assert (out / "plots" / "error_vs_energy.png").stat().st_size > 0
    assert (out / "trials.csv").read_text().count("\n") == 7


def test_resume_refuses_a_different_space_or_a_non_exploration_dir(tmp_path, val):
    space, out = write_space(tmp_path, GRID), tmp_path / "run"
    explore(MODEL, space, val, out, workers=1, trials=1)
    other = write_space(tmp_path, GRID.replace("[16, 32, 64]", "[16, 128]"), "other.yaml")
    with pytest.raises(ConfigError, match="'params' differs"):
        explore(MODEL, other, val, out, workers=1, resume=True)
    (tmp_path / "plain").mkdir()
    with pytest.raises(ConfigError, match="not an exploration directory"):
        explore(MODEL, space, val, tmp_path / "plain", workers=1, resume=True)


@pytest.mark.slow
def test_two_worker_local_cluster_pareto_and_rebuild(tmp_path, val):
    space = write_space(tmp_path, """
params:
  length: [16, 32, 64, 128]
  defaults.cell_fsm_states: [8, 16]
objectives: [error, energy]
sampler: nsga2
trials: 6
seed: 3
""")
    out = tmp_path / "dask"
    summary = explore(MODEL, space, val, out, workers=2)
    recs = _trials(out)
    assert summary["trials"] == 6 and sorted(r["number"] for r in recs) == list(range(6))
    assert "on 2 worker(s)" in (out / "report.md").read_text()
    ok = [r for r in recs if r["state"] == "ok" and "duplicate_of" not in r]
    assert ok
    objs = [Objective("error", "minimize"), Objective("energy", "minimize")]
    front = set(summary["pareto"])
    for r in ok:   # the front is exactly the non-dominated trials
        dominated = any(dominates(q["values"], r["values"], objs) for q in ok if q is not r)
        assert (r["number"] in front) == (not dominated)
    # a trial's rebuilt design reproduces the error and the cost it recorded
    rec = min(ok, key=lambda r: r["values"]["error"])
    cfg, calib, again = rebuild_trial(MODEL, f"{out}/{rec['number']}")
    assert again["values"] == rec["values"]
    design = compile_model(str(MODEL), cfg, calibration=calib)
    with np.load(val) as z:
        x = z["x"]
    err = float(np.mean(np.abs(design.simulate(x) - forward(design.model, x))))
    assert err == rec["values"]["error"]
    cost = cost_report(design.netlist, design.model, design.config, steps=x.shape[1])
    assert cost["designs"][cost["sc"]]["cost"]["energy_per_inference_j"] == rec["values"]["energy"]


def test_unreachable_scheduler_fails_before_dir_exists(tmp_path, val, monkeypatch):
    monkeypatch.setattr(runner_mod, "CONNECT_TIMEOUT", 1)
    out = tmp_path / "never"
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
        explore(MODEL, write_space(tmp_path, GRID), val, out, scheduler="tcp://127.0.0.1:9")
    assert not out.exists()


def test_constraints_nobody_can_meet(tmp_path, val):
    out = tmp_path / "c"
    impossible = write_space(tmp_path, GRID + 'constraints: ["error <= -1"]\n', "imp.yaml")
    with pytest.raises(ConfigError, match="no design can meet it"):
        explore(MODEL, impossible, val, out, workers=1)
    assert not out.exists()
    unmet = write_space(tmp_path, GRID + 'constraints: ["error <= 0.000001"]\n', "unmet.yaml")
    with pytest.raises(ConfigError, match="no trial of 4 meets the constraints"):
        explore(MODEL, unmet, val, out, workers=1)
    # the directory it left resumes with looser constraints, without rerunning anything
    loose = write_space(tmp_path, GRID + 'constraints: ["error <= 100"]\n', "loose.yaml")
    before = _trials(out)
    summary = explore(MODEL, loose, val, out, workers=1, resume=True)
    assert _trials(out) == before and summary["feasible"] >= 1


def test_from_trial_cli_rebuilds_and_refuses_other_models(tmp_path, val):
    from click.testing import CliRunner

    from sccompiler.cli import cli

    out = tmp_path / "run"
    explore(MODEL, write_space(tmp_path, GRID), val, out, workers=1)
    rec = next(r for r in _trials(out) if r["state"] == "ok")
    bad = next(r for r in _trials(out) if r["state"] == "failed")
    res = CliRunner().invoke(cli, ["compile", str(MODEL), "--from-trial", f"{out}/{rec['number']}",
                                   "-o", str(tmp_path / "d"), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert {p["name"]: p["length"] for p in rep["layers"] if p["length"]} == rec["lengths"]
    other = MODEL.parent / "binary"
    res = CliRunner().invoke(cli, ["compile", str(other), "--from-trial", f"{out}/{rec['number']}",
                                   "-o", str(tmp_path / "e")])
    assert res.exit_code != 0 and "MODEL is not the model" in res.output
    res = CliRunner().invoke(cli, ["compile", str(MODEL), "--from-trial", f"{out}/{bad['number']}",
                                   "-o", str(tmp_path / "g")])
    assert res.exit_code != 0 and "nothing to rebuild" in res.output
    res = CliRunner().invoke(cli, ["compile", str(MODEL), "--from-trial", f"{out}/{rec['number']}", "--length", "8",
                                   "-o", str(tmp_path / "h")])
    assert res.exit_code != 0 and "give no --config" in res.output
    res = CliRunner().invoke(cli, ["compile", str(MODEL), "--from-trial", f"{out}/9", "-o", str(tmp_path / "f")])
    assert res.exit_code != 0 and "no trial 9" in res.output
