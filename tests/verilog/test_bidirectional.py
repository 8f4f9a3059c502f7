"""Bidirectional layers in RTL (docs/semantics.md "Bidirectional layers", docs/verilog.md): the
forward phase writes the input and forward h into sequence buffers, the backward direction runs
over the buffered sequence in reverse, then the rest of the design reads concat(forward[t],
backward[t]).  Small bidirectional LSTMs and GRUs -- a per-step head, a ``LastStep`` head, a
forward layer after the bidirectional one -- co-simulate bit for bit with the runtime under Icarus
and Verilator; the cycles of start / busy / valid / done are the timing model's (2 T P + the
pipelined rest); a sequence longer than max_steps raises ``overflow`` and is not run."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from compiler.bidir_models import bidir_model

from sccompiler.backends.verilog.design import check_supported, emit_design, verify_design, verify_designs
from sccompiler.backends.verilog.tools import run_icarus, verilator_lint
from sccompiler.cli import cli
from sccompiler.cost.timing import netlist_timing
from sccompiler.design import compile_model
from sccompiler.errors import SCValueError, UnsupportedOpError
from sccompiler.frontends.native import save_model
from sccompiler.testing import require_tool

FAST = {"disable": ["correlation_report", "accuracy_report"]}
SIGN = {"gate_input": "table", "hidden": "sign"}
STREAM = {"gate_input": "integral_wfsm", "hidden": "stream"}

#: name -> (kind, bidir_model options, defaults, exact inputs, T)
CASES = {
    # exact inputs, table gates, sign(h): an exact head per step, read from the concat layer's read-out
    "lstm_sign_head": ("lstm", {"sign": True, "dense": 2}, SIGN, True, 4),
    "gru_sign_last_head": ("gru", {"sign": True, "dense": 2, "last": True}, SIGN, True, 3),
    "lstm_sign_second": ("lstm", {"sign": True, "dense": 2, "second": True, "H": 3}, SIGN, True, 3),
    # real inputs (the input buffer holds their thresholds), integral gates, stream h
    "lstm_stream_second_head": ("lstm", {"dense": 2, "second": True}, STREAM, False, 4),
    "gru_stream_last_head": ("gru", {"dense": 2, "last": True}, STREAM, False, 4),
    "gru_stream_second_last": ("gru", {"dense": 2, "second": True, "last": True}, STREAM, False, 3),
    "gru_stream_T1": ("gru", {"dense": 2, "second": True}, STREAM, False, 1),
}
VERILATOR_CASES = ("lstm_sign_head", "gru_stream_last_head", "lstm_stream_second_head")


def _make(name: str):
    kind, opts, defaults, exact, T = CASES[name]
    model = bidir_model(kind, seed=len(name), **opts)
    rng = np.random.default_rng(len(name))
    x = rng.choice([-1.0, 0.0, 1.0], (2, T, 3)) if exact else rng.uniform(-1, 1, (2, T, 3))
    cfg = {"length": 16, "defaults": defaults, "max_steps": 6, **FAST}
    return compile_model(model, cfg, calibration=x), x


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    out = {}
    for name in CASES:
        design, x = _make(name)
        d = tmp_path_factory.mktemp(name)
        emit_design(design, d, inputs=x, top=f"bd_{name}")
        out[name] = (design, d, x)
    return out


@pytest.mark.hw
@pytest.mark.parametrize("case", CASES)
def test_bidirectional_design_matches_runtime_under_icarus(emitted, case):
    require_tool("iverilog")
    _, outdir, x = emitted[case]
    passed, res = verify_design(outdir, "icarus")
    assert passed, res.stdout[-2000:]
    assert f"{x.shape[0]} sequences x {x.shape[1]} steps, every value bit-exact" in res.stdout


@pytest.mark.hw
def test_bidirectional_designs_match_runtime_under_verilator(emitted):
    require_tool("verilator")
    passed, res = verify_designs([emitted[c][1] for c in VERILATOR_CASES], "verilator")
    assert passed == {f"bd_{c}": True for c in VERILATOR_CASES}, res.stdout[-3000:]


def test_expected_values_are_the_runtime_trace_in_each_directions_own_steps(emitted):
    """The testbench expects the backward direction's values at its own step k = T - 1 - t (the
    runtime's trace is in the sequence's order), the forward's at t; the manifest names the
    buffers' depth and the timing is the model's 2 T P + pipelined rest."""
    design, outdir, x = emitted["lstm_sign_head"]
    man = json.loads((outdir / "tb" / "manifest.json").read_text())
    assert man["bidirectional"] == {"layer": "rnn", "max_steps": 6, "read_out_once": False,
                                    "overflow_port": "overflow"}
    words = [int(w, 16) for w in (outdir / "tb" / f"{man['testbench']}_exp.hex").read_text().split()]
    B, T = x.shape[:2]
    _, runs = design._runtime().run(x, trace=True)
    shift, seen = 0, set()
    for chk in man["checks"]:
        w, node = chk["width"], chk["node"]
        got = np.array([(word >> shift) & ((1 << w) - 1) for word in words]).reshape(B, T)
        if chk["signed"]:
            got = np.where(got >= 1 << (w - 1), got - (1 << w), got)
        layer = design.netlist.node(node).layer
        ref = runs[layer].trace[node][:, :, chk["neuron"]]
        if node.endswith(".h"):
            ref = (ref > 0).astype(np.int64)
        np.testing.assert_array_equal(got, ref[:, ::-1] if layer == "rnn.reverse" else ref)
        seen.add(layer)
        shift += w
    assert seen == {"rnn", "rnn.reverse", "head"}
    t = netlist_timing(design.netlist, steps=T)
    assert man["timing"] == t.to_json() and t.latency_cycles == 2 * T * 16 + T * 16 + 1
    top = (outdir / "rtl" / "bd_lstm_sign_head.v").read_text()
    assert "reg  [11:0] rnn_xbuf [0:5]" not in top            # exact inputs: 2 bits per feature
    assert "rnn_xbuf [0:5]" in top and "rnn_hbuf [0:5]" in top and "rnn_reverse_hbuf [0:5]" in top


def _probe(top: str, T: int, limit: int) -> str:
    """Pulse start once with n_steps = T; print the edges (from the one sampling start) at which
    busy, valid (with out_step), done and overflow are sampled high."""
    return "\n".join([
        "module bidir_probe;",
        "    reg clk = 1'b0;",
        "    always #5 clk = ~clk;",
        "    reg rst = 1'b1, start = 1'b0, seen_done = 1'b0;",
        "    integer cyc = 0, t0 = -1;",
        "    wire busy, done, valid, overflow;",
        "    wire [15:0] x_step, out_step;",
        f"    {top} dut (.clk(clk), .rst(rst), .start(start), .n_steps(16'd{T}), .x_in({{64{{1'b0}}}}), "
        ".busy(busy), .done(done), .x_step(x_step), .valid(valid), .out_step(out_step), .overflow(overflow));",
        "    always @(posedge clk) begin",
        "        cyc <= cyc + 1;",
        "        if (cyc == 2) rst <= 1'b0;",
        "        start <= (cyc == 4);",
        "        if (start) t0 = cyc;",
        "        if (t0 >= 0 && busy) $display(\"BUSY %0d\", cyc - t0);",
        "        if (t0 >= 0 && valid) $display(\"VALID %0d %0d\", cyc - t0, out_step);",
        "        if (t0 >= 0 && overflow) $display(\"OVERFLOW %0d\", cyc - t0);",
        "        if (t0 >= 0 && done && !seen_done) begin seen_done <= 1'b1; $display(\"DONE %0d\", cyc - t0); end",
        f"        if (cyc > {limit}) $finish;",
        "    end",
        "endmodule", ""])


def _run_probe(emitted, case, T, tmp_path):
    design, outdir, _ = emitted[case]
    man = json.loads((outdir / "tb" / "manifest.json").read_text())
    t = netlist_timing(design.netlist, steps=T)
    (tmp_path / "probe.v").write_text(_probe(man["top"], T, t.done_cycles + 40))
    res = run_icarus([outdir / "rtl" / f for f in man["rtl"]] + [tmp_path / "probe.v"], "bidir_probe", clock=None,
                     run_dir=tmp_path)
    lines = res.stdout.splitlines()
    got = {k: [m.groups() for ln in lines if (m := re.match(rf"{k} (\d+)(?: (\d+))?$", ln))]
           for k in ("BUSY", "VALID", "DONE", "OVERFLOW")}
    return t, {k: [int(a) if b is None else (int(a), int(b)) for a, b in v] for k, v in got.items()}


@pytest.mark.hw
@pytest.mark.parametrize("case, once", [("lstm_sign_head", False), ("gru_sign_last_head", True),
                                        ("lstm_stream_second_head", False), ("gru_stream_last_head", True)])
def test_cycles_are_the_timing_model(emitted, case, once, tmp_path):
    """busy for the forward phase (T P), then the backward phase (T P), then the read-out: the
    last result at latency_cycles = 2 T P + (T' + K' - 1) P + 1, done one edge later."""
    require_tool("iverilog")
    T = 4
    t, got = _run_probe(emitted, case, T, tmp_path)
    P, K = t.step_period, t.pipeline_depth
    assert got["BUSY"] == list(range(1, T * P + 1))
    steps = [T - 1] if once else list(range(T))
    first = 2 * T * P + K * P + 1            # the first (or only: T' = 1) read-out result
    assert got["VALID"] == [(first + k * P, s) for k, s in enumerate(steps)]
    assert got["VALID"][-1][0] == t.latency_cycles and got["DONE"] == [t.done_cycles]
    assert got["OVERFLOW"] == []


@pytest.mark.hw
def test_sequence_longer_than_max_steps_raises_overflow_and_runs_nothing(emitted, tmp_path):
    require_tool("iverilog")
    _, got = _run_probe(emitted, "lstm_sign_head", 7, tmp_path)           # max_steps = 6
    assert got["BUSY"] == [] and got["VALID"] == []
    assert got["OVERFLOW"][0] == 1 and got["DONE"][0] == 1


@pytest.mark.hw
@pytest.mark.parametrize("case, node, layer", [("lstm_sign_head", "rnn.reverse.h", "rnn_reverse"),
                                               ("lstm_sign_head", "head.k", "head"),
                                               ("gru_stream_last_head", "rnn.reverse.h_cnt", "rnn_reverse")])
def test_corrupted_expectation_is_reported(emitted, tmp_path, case, node, layer):
    """One flipped expected bit of sequence 1, step 1 (the backward direction's own step: it read
    x_{T-2}; a head on the last step: T - 1) gives exactly one MISMATCH naming it."""
    require_tool("iverilog")
    _, outdir, x = emitted[case]
    bad = tmp_path / "bad"
    shutil.copytree(outdir, bad)
    man = json.loads((bad / "tb" / "manifest.json").read_text())
    exp = bad / "tb" / f"{man['testbench']}_exp.hex"
    words = exp.read_text().split()
    shift = 0
    for chk in man["checks"]:
        if chk["node"] == node and chk["neuron"] == 1:
            break
        shift += chk["width"]
    T = x.shape[1]
    step = T - 1 if man["per_sequence"] and node.startswith("head") else 1
    words[T + step] = f"{int(words[T + step], 16) ^ (1 << shift):x}"
    exp.write_text("\n".join(words) + "\n")
    passed, res = verify_design(bad, "icarus")
    assert not passed
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("MISMATCH")]
    assert len(lines) == 1, res.stdout
    assert re.match(rf"MISMATCH seq=1 step={step} layer={layer} node={re.escape(node)}", lines[0]), lines[0]


@pytest.mark.hw
def test_lint_wall_clean(emitted):
    require_tool("verilator")
    for case in ("lstm_sign_head", "gru_stream_last_head", "lstm_stream_second_head"):
        _, outdir, _ = emitted[case]
        man = json.loads((outdir / "tb" / "manifest.json").read_text())
        assert verilator_lint([outdir / "rtl" / f for f in man["rtl"]], man["top"]) == []


@pytest.mark.hw
def test_yosys_synthesizes_the_buffers(emitted, tmp_path):
    """Yosys keeps the three buffers as flip-flops: at least max_steps x (input + 2 x h code) bits."""
    require_tool("yosys")
    from sccompiler.backends.verilog.design import synthesize_design  # noqa: PLC0415

    _, outdir, _ = emitted["gru_sign_last_head"]
    d = tmp_path / "syn"
    shutil.copytree(outdir, d)
    stats = synthesize_design(d)
    assert stats.cells > 0 and stats.flip_flops >= 6 * (2 * 3 + 2 * 4)


def test_verify_runs_every_stored_step(emitted):
    _, outdir, _ = emitted["lstm_sign_head"]
    with pytest.raises(SCValueError, match="bidirectional layer .*all 4 stored steps"):
        verify_design(outdir, "icarus", steps=2)


def test_hn_heads_and_a_missing_head_are_refused():
    design, _ = _make("gru_sign_last_head")
    check_supported(design)                    # select='last' emits
    x = np.random.default_rng(0).choice([-1.0, 1.0], (2, 3, 3))
    for select in ("final", "backward"):
        hn = compile_model(bidir_model("gru", sign=True, dense=2, last=True, select=select),
                           {"length": 16, "defaults": SIGN, **FAST}, calibration=x)
        with pytest.raises(UnsupportedOpError, match=f"select='{select}'"):
            check_supported(hn)
    model = bidir_model("gru", sign=True)
    bare = compile_model(model, {"length": 16, "defaults": SIGN, **FAST}, calibration=x)
    with pytest.raises(UnsupportedOpError, match="needs a layer after a bidirectional layer"):
        check_supported(bare)


@pytest.mark.hw
def test_cli_compile_emits_and_verifies_a_bidirectional_design(tmp_path):
    require_tool("iverilog")
    model = bidir_model("gru", dense=2, last=True)
    mdir = save_model(model, tmp_path / "model")
    x = np.random.default_rng(1).uniform(-1, 1, (3, 5, 3))
    np.save(tmp_path / "x.npy", x)
    run = CliRunner()
    r = run.invoke(cli, ["compile", str(mdir), "-o", str(tmp_path / "d"), "--calibration", str(tmp_path / "x.npy"),
                         "--set", "length=32", "--set", "max_steps=8", "--quiet", "--emit", "verilog"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "d" / "rtl" / "sc_design.v").exists()
    r = run.invoke(cli, ["verify", str(tmp_path / "d"), "--simulator", "icarus", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["passed"] is True
    r = run.invoke(cli, ["cost", str(tmp_path / "d"), "--steps", "5", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["sequence_buffers"]["rnn.concat"]["max_steps"] == 8
    assert rep["timing"]["serial_layers"] == 2 and rep["timing"]["latency_cycles"] == 2 * 5 * 32 + 32 + 1
    np.save(tmp_path / "long.npy", np.random.default_rng(2).uniform(-0.5, 0.5, (2, 9, 3)))
    r = run.invoke(cli, ["simulate", str(tmp_path / "d"), "--inputs", str(tmp_path / "long.npy")])
    assert r.exit_code != 0 and "max_steps" in r.output and "Traceback" not in r.output, r.output


def test_fixed_point_baseline_rtl_refuses_bidirectional(tmp_path):
    from sccompiler.backends.verilog.fixed_point import emit_fixed_point_design

    with pytest.raises(UnsupportedOpError, match="bidirectional GRU.*'rnn'.*RTL has no bidirectional"):
        emit_fixed_point_design(bidir_model("gru"), tmp_path / "b", bits=8)
    assert not (tmp_path / "b").exists()
