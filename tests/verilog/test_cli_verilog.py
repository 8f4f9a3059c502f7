"""``scc fsm --verilog FILE [--testbench]``: files, errors, and (hw) a passing testbench."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sccompiler.backends.verilog import run_icarus
from sccompiler.cli import cli
from sccompiler.cli.fsm_verilog import module_name_for
from sccompiler.testing import require_tool

BASE = ["fsm", "tanh(2*x)", "-n", "6", "--length", "300", "--points", "4", "--repeats", "1"]


@pytest.fixture(autouse=True)
def _no_disk_cache(monkeypatch):
    monkeypatch.setenv("SCC_FSM_CACHE", "0")


def test_module_name_for():
    assert module_name_for("out/tanh-8.v") == "tanh_8"
    assert module_name_for("8.v") == "wfsm_8"
    assert module_name_for("sc_sng.v") == "wfsm_sc_sng"


def test_verilog_and_testbench_written(tmp_path):
    out = tmp_path / "g.v"
    r = CliRunner().invoke(cli, BASE + ["--verilog", str(out), "--testbench", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)["verilog"]
    assert rep["module"] == "g" and rep["testbench"] == "g_tb" and rep["length"] == 300
    assert {p.name for p in tmp_path.iterdir()} == {"g.v", "g_tb.v", "g_tb_exp.hex"}
    assert "module g #(" in out.read_text()
    # an existing output is not overwritten without --force (one-line error, non-zero exit)
    r2 = CliRunner().invoke(cli, BASE + ["--verilog", str(out)])
    assert r2.exit_code != 0 and "already exists" in r2.output and "Traceback" not in r2.output
    r3 = CliRunner().invoke(cli, BASE + ["--verilog", str(out), "--force"])
    assert r3.exit_code == 0, r3.output


@pytest.mark.parametrize("extra,msg", [
    (["--testbench"], "--testbench"),
    (["--verilog", "x.v", "--source", "ideal"], "ideal"),
    (["--verilog", "x.v", "--length", "0"], "--length"),
])
def test_bad_option_combinations(tmp_path, extra, msg):
    with CliRunner().isolated_filesystem(temp_dir=tmp_path):
        r = CliRunner().invoke(cli, BASE[:4] + extra)
    assert r.exit_code != 0 and msg in r.output and "Traceback" not in r.output


@pytest.mark.hw
def test_cli_testbench_passes(tmp_path):
    require_tool("iverilog")
    out = tmp_path / "cli_tanh.v"
    r = CliRunner().invoke(cli, BASE + ["--verilog", str(out), "--testbench", "--source", "sobol"])
    assert r.exit_code == 0, r.output
    res = run_icarus([out, tmp_path / "cli_tanh_tb.v"], "cli_tanh_tb_run", clock=None, run_dir=tmp_path)
    assert res.passed, res.stdout[-1500:]
