"""Tool wrappers: missing programs give an install hint, failures quote the tool's diagnostics."""

from __future__ import annotations

import pytest

from sccompiler.backends.verilog import tools
from sccompiler.errors import SCValueError, SimulationError, ToolMissingError
from sccompiler.testing import require_tool

BROKEN = "module broken(input wire clk);\n    reg r;\n    always @(posedge clk) r <= ;\nendmodule\n"


@pytest.mark.parametrize("func,args,program", [
    (tools.run_icarus, (), "iverilog"),
    (tools.run_verilator, (), "verilator"),
    (tools.verilator_lint, (), "verilator"),
    (tools.yosys_synth, (), "yosys"),
])
def test_missing_tool_has_install_hint(monkeypatch, tmp_path, func, args, program):
    f = tmp_path / "m.v"
    f.write_text("module m; endmodule\n")
    monkeypatch.setattr(tools.shutil, "which", lambda name: None)
    with pytest.raises(ToolMissingError, match=f"apt-get install {program}"):
        func([f], "m")


def test_bad_arguments(tmp_path):
    with pytest.raises(SCValueError, match="sources"):
        tools.run_icarus([tmp_path / "absent.v"], "x")
    f = tmp_path / "m.v"
    f.write_text("module m; endmodule\n")
    with pytest.raises(SCValueError, match="top"):
        tools.run_icarus([f], "m; rm -rf /")
    with pytest.raises(SCValueError, match="simulator"):
        tools.simulate([f], "m", simulator="modelsim")
    with pytest.raises(SCValueError, match="params"):
        tools.verilator_lint([f], "m", params={"N": "7; x"})


@pytest.mark.hw
def test_icarus_syntax_error_is_simulation_error(tmp_path):
    require_tool("iverilog")
    f = tmp_path / "broken.v"
    f.write_text(BROKEN)
    with pytest.raises(SimulationError, match=r"iverilog failed[\s\S]*broken\.v:3"):
        tools.run_icarus([f], "broken")


@pytest.mark.hw
def test_verilator_syntax_error_is_simulation_error(tmp_path):
    require_tool("verilator")
    f = tmp_path / "broken.v"
    f.write_text(BROKEN)
    with pytest.raises(SimulationError, match=r"verilator failed[\s\S]*%Error"):
        tools.run_verilator([f], "broken")
    with pytest.raises(SimulationError, match="lint-only failed"):
        tools.verilator_lint([f], "broken")


@pytest.mark.hw
def test_icarus_runs_self_clocked_and_clocked_tops(tmp_path):
    require_tool("iverilog")
    f = tmp_path / "count.v"
    f.write_text("module count(input wire clk);\n    integer n;\n    initial n = 0;\n"
                 "    always @(posedge clk) begin\n        n <= n + 1;\n"
                 "        if (n == 9) begin $display(\"PASS n=%0d\", n); $finish; end\n    end\nendmodule\n")
    res = tools.run_icarus([f], "count")
    assert res.passed and "PASS n=9" in res.stdout
    g = tmp_path / "hello.v"
    g.write_text("module hello;\n    initial $display(\"hello\");\nendmodule\n")
    res = tools.run_icarus([g], "hello", clock=None)
    assert "hello" in res.stdout and not res.passed
