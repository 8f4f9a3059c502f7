"""Sweep of randomly generated small compiled designs (tests/verilog/sweep.py: LSTM and GRU, 1-2
layers, hidden 2-16, T 2-5, L 16-256, binary and ternary weights, table gates + sign(h) and
integral WFSM gates + stream h, GRU linear_before_reset 1 and 0, real and exact inputs, dense
heads, LSTMs with per-step batch norm and per-gate operand banks): every emitted design must
match the Python simulator bit for bit under Icarus (each design on its own) and under Verilator
(every design together: one C++ build, ~1-3 min on a shared 2-core machine, its simulation well
under a second); Yosys synthesizes every one of them."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner

from sccompiler.backends.verilog.design import emit_design, synthesize_design, verify_design, verify_designs
from sccompiler.backends.verilog.tools import verilator_lint
from sccompiler.cli import cli
from sccompiler.cost.netlist_cost import cost_report
from sccompiler.testing import require_tool

from .sweep import FLAVORS, compile_spec, draw, draw_sobol

#: the sweep's seeds: seed k draws flavour k mod 8 (every gate datapath), seeds 0 / 5 / 10 the
#: hidden = 16 extreme (table GRUs excepted), 1 / 6 / 11 the L = 256 one
SEEDS = tuple(range(12))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """seed -> (spec, outdir, design): each design emitted with its own top name."""
    out = {}
    for seed in SEEDS:
        spec = draw(seed)
        design, x = compile_spec(spec)
        d = tmp_path_factory.mktemp(f"sweep{seed}")
        emit_design(design, d, inputs=x, top=f"sc_sweep{seed}")
        out[seed] = (spec, d, design)
    return out


#: the Sobol sweep: the first eight designs (every flavour) with source: sobol (even) / auto (odd)
SOBOL_SEEDS = tuple(range(8))


@pytest.fixture(scope="module")
def sobol_sweep(tmp_path_factory):
    """seed -> (spec, outdir, design) of the Sobol sweep (tops sc_sobol<seed>)."""
    out = {}
    for seed in SOBOL_SEEDS:
        spec = draw_sobol(seed)
        design, x = compile_spec(spec)
        d = tmp_path_factory.mktemp(f"sobol{seed}")
        emit_design(design, d, inputs=x, top=f"sc_sobol{seed}")
        out[seed] = (spec, d, design)
    return out


@pytest.mark.hw
@pytest.mark.parametrize("seed", SOBOL_SEEDS)
def test_sobol_sweep_design_bit_exact_icarus(sobol_sweep, seed):
    """Sobol source registers (sc_sobol + the layer's sc_sobol_sel) co-simulate bit-exactly,
    also in layers with idle cycles (a shorter L than the step period)."""
    require_tool("iverilog")
    require_tool("vvp")
    spec, d, design = sobol_sweep[seed]
    assert any(r.get("kind") == "sobol" for r in design.netlist.sources["registers"])
    assert "sc_sobol " in (d / "rtl" / f"sc_sobol{seed}.v").read_text()
    passed, res = verify_design(d, "icarus")
    assert passed, f"{spec.name}:\n{res.stdout[-2000:]}"


@pytest.mark.hw
def test_sobol_sweep_bit_exact_verilator_one_build(sobol_sweep):
    require_tool("verilator")
    passed, res = verify_designs([sobol_sweep[s][1] for s in SOBOL_SEEDS], "verilator")
    failed = [sobol_sweep[s][0].name for s in SOBOL_SEEDS if not passed[f"sc_sobol{s}"]]
    assert not failed, f"{failed}:\n{res.stdout[-3000:]}"


def test_sweep_covers_the_ranges():
    """The drawn designs span every range the sweep promises (so a generator change cannot
    silently shrink it)."""
    specs = [draw(s) for s in SEEDS]
    assert {(s.cell, s.gate_input, s.inputs, s.linear_before_reset) for s in specs} == set(FLAVORS)
    assert {s.layers for s in specs} == {1, 2}
    assert min(s.hidden for s in specs) == 2 and max(s.hidden for s in specs) == 16
    assert min(s.steps for s in specs) == 2 and max(s.steps for s in specs) == 5
    assert min(s.length for s in specs) >= 16 and max(s.length for s in specs) == 256
    assert {s.ternary for s in specs} == {False, True}
    assert {s.fsm_state for s in specs} == {"carry", "reset"}
    assert any(s.head for s in specs) and any(not s.head for s in specs)
    assert {(s.gate_input, s.inputs) for s in specs if s.bn} == {("table", "exact"), ("integral_wfsm", "real"),
                                                                 ("integral_wfsm", "exact")}
    assert {s.bn for s in specs if s.per_gate} == {False, True}
    # later timed layers with another L: longer (the first layer idles) and shorter (they idle)
    assert any(0 < s.length2 < s.length for s in specs) and any(s.length2 > s.length for s in specs)
    assert len({s.name for s in specs}) == len(specs)
    assert {s.sources for s in specs} == {"private", "shared"}


@pytest.mark.hw
@pytest.mark.parametrize("seed", SEEDS)
def test_sweep_design_bit_exact_icarus(sweep, seed):
    require_tool("iverilog")
    require_tool("vvp")
    spec, d, _ = sweep[seed]
    passed, res = verify_design(d, "icarus")
    assert passed, f"{spec.name}:\n{res.stdout[-2000:]}"
    man = json.loads((d / "tb" / "manifest.json").read_text())
    assert f"PASS sc_sweep{seed}: {man['sequences']} sequences x {spec.steps} steps" in res.stdout


@pytest.mark.hw
def test_sweep_bit_exact_verilator_one_build(sweep):
    """Every design of the sweep under Verilator, in one C++ build (each with its own top)."""
    require_tool("verilator")
    passed, res = verify_designs([sweep[s][1] for s in SEEDS], "verilator")
    failed = [sweep[s][0].name for s in SEEDS if not passed[f"sc_sweep{s}"]]
    assert not failed, f"{failed}:\n{res.stdout[-3000:]}"


@pytest.mark.hw
def test_combined_run_reports_a_corrupted_design(sweep, tmp_path):
    """verify_designs attributes a failure to its design: a flipped expectation in one of two
    designs fails exactly that one (Icarus: cheap to build)."""
    require_tool("iverilog")
    import shutil

    a, b = (sweep[s][1] for s in (2, 8))
    bad = tmp_path / "bad"
    shutil.copytree(b, bad)
    exp = next((bad / "tb").glob("*_exp.hex"))
    words = exp.read_text().split()
    words[-1] = f"{int(words[-1], 16) ^ 1:x}"
    exp.write_text("\n".join(words) + "\n")
    passed, res = verify_designs([a, bad], "icarus")
    assert passed == {"sc_sweep2": True, "sc_sweep8": False}, res.stdout
    assert "MISMATCH seq=1" in res.stdout and "FAIL mismatches=1" in res.stdout


#: flip-flops the cost model does not count (control of each timed layer, counter bases)
FF_MARGIN = 400


def _live_comparators(design) -> int:
    """Comparators whose streams something reads, counted independently of the allocator: an SNG
    element that only feeds XNORs with zero (ternary) weights drives nothing (pruned)."""
    import numpy as np  # noqa: PLC0415

    nodes = list(design.netlist.nodes)
    live = 0
    for n in nodes:
        if n.op not in ("sng", "wfsm"):
            continue
        readers = [c for c in nodes if n.name in c.inputs]
        if n.op == "wfsm" or not readers or any(c.op != "xnor_apc" or c.inputs[0] != n.name for c in readers):
            live += n.size
            continue
        read = np.zeros(n.shape, dtype=bool)
        for c in readers:
            nz = np.asarray(c.arrays["weights"]) != 0                  # (R, M)
            if len(n.shape) == 2:                                      # (G, M) banks: rows of bank k
                read |= nz.reshape(n.shape[0], -1, nz.shape[1]).any(axis=1)
            else:
                read |= nz.any(axis=0)
        live += int(read.sum())
    return live


def _register_bits(design) -> int:
    return sum(int(r["width"]) for r in design.netlist.sources["registers"])


def test_sweep_pruning_matches_an_independent_count(sweep):
    """The allocator prunes exactly the comparators the independent count finds dead, and a
    private design has one register per live comparator."""
    import numpy as np  # noqa: PLC0415

    for seed in SEEDS:
        spec, _, design = sweep[seed]
        src = np.concatenate([np.asarray(n.arrays["src"]).ravel() for n in design.netlist if n.op in ("sng", "wfsm")])
        assert int(np.count_nonzero(src >= 0)) == _live_comparators(design), spec.name
        if spec.sources == "private":
            assert len(design.netlist.sources["registers"]) == _live_comparators(design), spec.name


def _check_stats(stats, design, doc: dict) -> None:
    assert stats.cells > 0 and stats.transistors and stats.transistors > 0
    # every LFSR register survives synthesis (+ counters, FSM states and the control)
    assert stats.flip_flops > _register_bits(design)
    # the cost model's flip-flop count (source registers, FSM states, counters, h/c registers)
    # within the stated margin of Yosys' (docs/cost-model.md: the control registers -- step and
    # cycle counters, flags -- and the counters' per-step bases are not modelled: ~250 on the demo)
    cost = cost_report(design.netlist, design.model, design.config)
    analytic = cost["designs"][cost["sc"]]["cost"]["flip_flops"]
    assert abs(stats.flip_flops - analytic) <= 0.1 * analytic + FF_MARGIN, (stats.flip_flops, analytic)
    assert doc["cells"] == stats.cells and doc["flip_flops"] == stats.flip_flops
    assert doc["transistors"] == stats.transistors and sum(doc["cell_types"].values()) == stats.cells


@pytest.mark.hw
def test_sweep_designs_synthesize(sweep):
    """Yosys synthesizes every design of the sweep (one Yosys per core: each is single-threaded
    and the larger designs take minutes); synth.json holds its numbers."""
    require_tool("yosys")
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        stats = dict(zip(SEEDS, pool.map(lambda s: synthesize_design(sweep[s][1]), SEEDS)))
    for seed in SEEDS:
        spec, d, design = sweep[seed]
        _check_stats(stats[seed], design, json.loads((d / "synth.json").read_text()))


@pytest.mark.hw
def test_cli_verify_synth_json(sweep):
    """``scc verify OUTDIR --synth --json``: the co-simulation passes, then Yosys's numbers are
    printed and written to OUTDIR/synth.json (a table GRU: its ROMs synthesize too)."""
    for prog in ("iverilog", "vvp", "yosys"):
        require_tool(prog)
    spec, d, design = sweep[2]
    r = CliRunner().invoke(cli, ["verify", str(d), "--simulator", "icarus", "--synth", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["passed"] and doc["synth"]["top"] == "sc_sweep2"
    on_disk = json.loads((d / "synth.json").read_text())
    assert on_disk == doc["synth"]
    from sccompiler.backends.verilog.tools import SynthStats

    stats = SynthStats(top=doc["synth"]["top"], cells=doc["synth"]["cells"], cell_types=doc["synth"]["cell_types"],
                       flip_flops=doc["synth"]["flip_flops"], transistors=doc["synth"]["transistors"])
    _check_stats(stats, design, on_disk)


@pytest.mark.hw
def test_gru_and_gated_designs_lint_clean(sweep):
    """``verilator --lint-only -Wall`` reports nothing on the GRU datapaths (table ROMs with r, MUX,
    xnor_int, islice, linear_before_reset 0) and the gated XNOR + APC banks."""
    require_tool("verilator")
    for seed in (2, 5, 9):
        spec, d, _ = sweep[seed]
        man = json.loads((d / "tb" / "manifest.json").read_text())
        assert verilator_lint([d / "rtl" / f for f in man["rtl"]], man["top"]) == [], spec.name
    assert "_u_gate" in (sweep[5][1] / "rtl" / "sc_sweep5.v").read_text()     # s5: exact inputs, gated bank


def test_sobol_sweep_pruning_and_private_registers(sobol_sweep):
    """Sobol and auto designs prune the same comparators as the independent count, and a private
    one has one register (LFSR or Sobol) per live comparator."""
    import numpy as np  # noqa: PLC0415

    for seed in SOBOL_SEEDS:
        spec, _, design = sobol_sweep[seed]
        src = np.concatenate([np.asarray(n.arrays["src"]).ravel() for n in design.netlist if n.op in ("sng", "wfsm")])
        assert int(np.count_nonzero(src >= 0)) == _live_comparators(design), spec.name
        if spec.sources == "private":
            assert len(design.netlist.sources["registers"]) == _live_comparators(design), spec.name


#: small Sobol designs Yosys synthesizes quickly (shared sobol GRU, shared auto GRU, shared sobol LSTM)
SOBOL_SYNTH_SEEDS = (2, 5, 6)


@pytest.mark.hw
def test_sobol_sweep_designs_synthesize(sobol_sweep):
    """Every Sobol register survives Yosys, and the cost model's flip-flops stay within the margin."""
    require_tool("yosys")
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        stats = dict(zip(SOBOL_SYNTH_SEEDS, pool.map(lambda s: synthesize_design(sobol_sweep[s][1]),
                                                     SOBOL_SYNTH_SEEDS)))
    for seed in SOBOL_SYNTH_SEEDS:
        spec, d, design = sobol_sweep[seed]
        _check_stats(stats[seed], design, json.loads((d / "synth.json").read_text()))
