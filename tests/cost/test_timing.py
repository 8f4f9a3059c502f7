"""The one timing model (sccompiler.cost.timing) against the RTL it describes: the formula, its use
by the cost Design, the emitted manifest's figures and -- under Icarus -- the cycle at which the
emitted top presents every step's results and raises done."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from compiler.models import FAST, lstm_model  # tests/compiler (tests/ is on sys.path)

from sccompiler.cost import Design, Inventory, Timing, design_timing, netlist_timing, pipeline_latency_cycles
from sccompiler.errors import SCValueError
from sccompiler.testing import require_tool


def test_formula_pipelined_layers_one_period():
    t = design_timing({"lstm0": 16, "lstm1": 24, "head": 20}, steps=5, clock_mhz=500)
    assert (t.step_period, t.pipeline_depth) == (24, 3)
    assert t.cycles_per_step == {"lstm0": 24, "lstm1": 24, "head": 24}
    assert t.input_cycles == 5 * 24
    assert t.compute_cycles == (5 + 3 - 1) * 24
    assert t.latency_cycles == (5 + 3 - 1) * 24 + 1
    assert t.first_result_cycles == 3 * 24 + 1
    assert t.done_cycles == t.latency_cycles + 1
    assert t.throughput_steps_per_s == pytest.approx(500e6 / 24)
    assert t.latency_s == pytest.approx(t.latency_cycles / 500e6)
    j = t.to_json()
    # the keys the scheduler's timing block and report.md read
    assert {"cycles_per_step", "latency_cycles", "steps", "throughput_steps_per_s"} <= set(j)
    assert j["overhead_cycles_per_step"] == 0 and j["active_cycles_per_step"] == {"lstm0": 16, "lstm1": 24, "head": 20}
    assert design_timing([("a", 8)]).throughput_steps_per_s is None


def test_cost_design_uses_the_same_formula():
    t = design_timing({"a": 10, "b": 30}, steps=4)
    d = Design("d", (("a", Inventory.of("xnor")),), step_cycles=t.step_cycles, result_cycles=1)
    assert d.latency_cycles(4) == t.latency_cycles
    assert pipeline_latency_cycles((10, 30), 1) == 40          # per-layer step cycles (baselines)


def test_timing_argument_errors():
    with pytest.raises(SCValueError, match="timed layer"):
        Timing(())
    with pytest.raises(SCValueError, match="steps"):
        design_timing({"a": 8}, steps=0)
    with pytest.raises(SCValueError, match="length of a"):
        design_timing({"a": 0})
    with pytest.raises(SCValueError, match="clock_mhz"):
        design_timing({"a": 8}, clock_mhz=-1.0)


# ------------------------------------------------------------------------------ against the RTL

#: name -> (layers, L per layer, steps T, dense head, real inputs): exact inputs + sign(h) (an exact
#: head is combinational: no pipeline stage), two layers with different L (both step at the longest),
#: real inputs with integral WFSM gates and a streamed head (a pipeline stage of its own)
CASES = {
    "1layer_L16_T3_exact_head": (1, (16,), 3, 1, False),
    "2layers_L12_L20_T4": (2, (12, 20), 4, 0, False),
    "integral_streamed_head_L16_T3": (1, (16,), 3, 2, True),
}


def _design(layers, lengths, T, dense, real):
    model = lstm_model(I=2, H=3, layers=layers, seed=layers + T, dense=dense)
    rng = np.random.default_rng(T)
    x = rng.uniform(-1, 1, (1, T, 2)) if real else rng.choice([-1.0, 0.0, 1.0], size=(1, T, 2))
    cfg = {"length": lengths[0], "layers": {f"lstm{k}": {"length": L} for k, L in enumerate(lengths)},
           "defaults": {} if real else {"hidden": "sign"}, **FAST}
    from sccompiler.design import compile_model  # noqa: PLC0415

    return compile_model(model, cfg, calibration=x), x


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    from sccompiler.backends.verilog.design import emit_design  # noqa: PLC0415

    out = {}
    for name, case in CASES.items():
        design, x = _design(*case)
        d = tmp_path_factory.mktemp(name)
        emit_design(design, d, inputs=x)
        out[name] = (design, d, case[2])
    return out


@pytest.mark.parametrize("case", CASES)
def test_model_matches_the_manifest(emitted, case):
    design, outdir, T = emitted[case]
    man = json.loads((outdir / "tb" / "manifest.json").read_text())
    t = netlist_timing(design.netlist, steps=T)
    assert man["cycles_per_step"] == t.step_period
    assert man["lengths"] == dict(t.active_cycles)
    expected_depth = len(CASES[case][1]) + (1 if CASES[case][4] and CASES[case][3] else 0)
    assert t.pipeline_depth == expected_depth


def _probe(top: str, T: int, limit: int) -> str:
    """A testbench that pulses start once and prints the edge count (from the edge that samples
    start) at which busy, each valid (with out_step) and done are sampled high."""
    return "\n".join([
        "`timescale 1ns/1ps",
        "module timing_probe;",
        "    reg clk = 1'b0;",
        "    always #5 clk = ~clk;",
        "    reg rst = 1'b1, start = 1'b0, seen_done = 1'b0;",
        "    integer cyc = 0, t0 = -1;",
        "    wire busy, done, valid;",
        "    wire [15:0] x_step, out_step;",
        f"    {top} dut (.clk(clk), .rst(rst), .start(start), .n_steps(16'd{T}), .x_in(1'b0), .busy(busy), "
        ".done(done), .x_step(x_step), .valid(valid), .out_step(out_step));",
        "    always @(posedge clk) begin",
        "        cyc <= cyc + 1;",
        "        if (cyc == 2) rst <= 1'b0;",
        "        start <= (cyc == 4);",
        "        if (start) begin t0 = cyc; $display(\"START\"); end",
        "        if (t0 >= 0 && busy) $display(\"BUSY %0d\", cyc - t0);",
        "        if (t0 >= 0 && valid) $display(\"VALID %0d %0d\", cyc - t0, out_step);",
        "        if (t0 >= 0 && done && !seen_done) begin seen_done <= 1'b1; $display(\"DONE %0d\", cyc - t0); end",
        f"        if (cyc > {limit}) begin $display(\"PASS end\"); $finish; end",
        "    end",
        "endmodule", ""])


@pytest.mark.hw
@pytest.mark.parametrize("case", CASES)
def test_model_matches_icarus_cycle_count(emitted, case, tmp_path):
    require_tool("iverilog")
    from sccompiler.backends.verilog.tools import run_icarus  # noqa: PLC0415

    design, outdir, T = emitted[case]
    man = json.loads((outdir / "tb" / "manifest.json").read_text())
    t = netlist_timing(design.netlist, steps=T)
    probe = tmp_path / "timing_probe.v"
    probe.write_text(_probe(man["top"], T, t.done_cycles + t.step_period + 20))
    res = run_icarus([outdir / "rtl" / f for f in man["rtl"]] + [probe], "timing_probe", clock=None,
                     run_dir=tmp_path)
    lines = res.stdout.splitlines()
    assert "START" in lines, res.stdout[-2000:]
    busy = [int(m.group(1)) for ln in lines if (m := re.match(r"BUSY (\d+)$", ln))]
    valid = [(int(m.group(1)), int(m.group(2))) for ln in lines if (m := re.match(r"VALID (\d+) (\d+)$", ln))]
    done = [int(m.group(1)) for ln in lines if (m := re.match(r"DONE (\d+)$", ln))]
    P, K = t.step_period, t.pipeline_depth
    # layer 0 reads the input for T P cycles, right after the start edge
    assert busy == list(range(1, t.input_cycles + 1))
    # the last layer presents step s in the first cycle of its step s + 1 (the flush cycle for the
    # last one): K P + 1 edges after start for step 0, then one step every P cycles
    assert valid == [((K + s) * P + 1, s) for s in range(T)]
    assert valid[0][0] == t.first_result_cycles
    assert valid[-1][0] == t.latency_cycles
    assert done == [t.done_cycles]


def test_report_md_renders_the_timing_block():
    """report.md's schedule section reads the scheduler's timing block: Timing.to_json() fits it
    (with and without a clock)."""
    from sccompiler.report_md import report_markdown  # noqa: PLC0415

    for clock, rate in ((500, "20,833,333"), (None, "-")):
        t = design_timing({"lstm0": 16, "lstm1": 24}, steps=3, clock_mhz=clock)
        rep = {"model": "m", "layers": [], "primitives": {},
               "schedule": {"target_error": 0.1, "metric": "mean_abs", "length": 24, "model": {"a": 1.0, "b": 0.0},
                            "curve": [], "lengths": {"lstm0": 16, "lstm1": 24}, "measured_error": 0.05,
                            "timing": t.to_json()}}
        text = report_markdown(rep)
        assert (f"latency of 3 steps {t.latency_cycles:,} cycles; throughput {rate} steps/s") in text


@pytest.mark.parametrize("case", CASES)
def test_cost_report_latency_is_the_rtl_latency(emitted, case):
    """The compiled design's cost (scc compile's report, scc cost OUTDIR) is timed as its RTL."""
    from sccompiler.cost.netlist_cost import cost_report  # noqa: PLC0415

    design, _, _ = emitted[case]
    rep = cost_report(design.netlist, design.model, design.config)
    t = netlist_timing(design.netlist)
    sc = rep["designs"][rep["sc"]]
    assert sc["cost"]["latency_cycles"] == t.latency_cycles == rep["timing"]["latency_cycles"]
    assert sc["step_cycles"] == list(t.step_cycles)
    assert sc["cost"]["latency_s"] == pytest.approx(t.latency_cycles / (sc["cost"]["clock_mhz"] * 1e6))
