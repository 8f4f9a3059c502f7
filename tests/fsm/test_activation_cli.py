"""``scc activation``: the automatic choice (cheapest candidate meeting the error), its JSON, the
unmet case's one-line error naming the closest candidate, the output directory (whose testbench
passes under Icarus), and ``scc fsm`` unchanged next to it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sccompiler.cli import cli
from sccompiler.fsm.realize import realize_activation


def _run(args):
    return CliRunner().invoke(cli, ["activation", *args], catch_exceptions=False)


def test_json_choice_is_the_cheapest_that_meets():
    res = _run(["x**2", "--max-error", "0.01", "--length", "512", "--repeats", "2", "--points", "9", "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    cands = {c["kind"]: c for c in rep["candidates"]}
    assert set(cands) == {"wfsm", "wfsm2d", "bernstein", "lut"}
    ok = [c for c in rep["candidates"] if c["meets"]]
    assert rep["chosen"] == min(ok, key=lambda c: c["cost"]["gate_equivalents"])["kind"] == "bernstein"
    assert cands["bernstein"]["params"]["degree"] == 2 and cands["bernstein"]["analytic_max_error"] < 1e-9
    assert not cands["wfsm"]["meets"] and cands["wfsm"]["analytic_max_error"] > 0.05   # the finding
    for c in rep["candidates"]:
        assert c["cost"]["gate_equivalents"] > 0 and c["simulated"]["max_error"] >= 0
        assert all(c["meets"] == (c["analytic_max_error"] <= 0.01) for c in rep["candidates"])


def test_unmet_target_says_how_close():
    res = CliRunner().invoke(cli, ["activation", "2*exp(-9*x**2)-1", "--kinds", "bernstein", "--max-degree", "8",
                                   "--length", "0"])
    assert res.exit_code != 0
    line = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(line) == 1 and "closest is bernstein degree=8" in line[0], res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize("args,match", [
    (["x", "--kinds", "spline"], "kinds"),
    (["x", "--max-error", "-1"], "max_error"),
    (["x", "--input", "ternary"], "input"),
    (["2*x"], "output range"),
])
def test_bad_input_is_one_error_line(args, match):
    res = CliRunner().invoke(cli, ["activation", *args, "--length", "0"])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert res.output.strip().startswith("error:") and match in res.output


def test_integral_input_realizes_with_the_wfsm_only():
    rep = realize_activation("tanh(x)", max_error=0.05, input="integral:2", simulate=False)
    assert rep.chosen is not None and rep.chosen.kind == "wfsm"
    assert {c.kind: c.cost for c in rep.candidates}["bernstein"] is None


@pytest.mark.hw
def test_output_dir_holds_a_passing_testbench(tmp_path):
    from sccompiler.backends.verilog import simulate
    from sccompiler.testing import require_tool

    require_tool("iverilog")
    out = tmp_path / "act"
    res = _run(["abs(x)", "--kinds", "bernstein,lut", "--max-error", "0.02", "--length", "256", "--repeats", "1",
                "--points", "5", "-o", str(out)])
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "report.json").read_text())
    name = {"bernstein": "resc", "lut": "lut"}[rep["chosen"]]
    assert (out / "realization.png").stat().st_size > 1000
    r = simulate([out / f"{name}.v", out / f"{name}_tb.v"], f"{name}_tb", simulator="icarus", run_dir=out)
    assert r.passed, r.stdout[-1000:]
    again = _run(["abs(x)", "--length", "16", "-o", str(out)])
    assert again.exit_code != 0


def test_scc_fsm_still_works():
    res = CliRunner().invoke(cli, ["fsm", "tanh(2*x)", "--states", "8", "--length", "0", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["states"] == 8
