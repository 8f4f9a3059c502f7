"""Yosys synthesizes every primitive; the register count is exactly what the contract implies
(the flip-flops are the state the semantics define, nothing more), combinational ones have none."""

from __future__ import annotations

import pytest

from sccompiler.backends.verilog.library import lfsr_module_name, write_library
from sccompiler.backends.verilog.tools import SimulationError, parse_yosys_stat, yosys_synth
from sccompiler.backends.verilog.wfsm import WfsmSpec, emit_wfsm
from sccompiler.testing import require_tool

pytestmark = pytest.mark.hw

#: (module, params, expected flip-flops)
CASES = [
    (lfsr_module_name(16, 16), {}, 16),
    (lfsr_module_name(32, 3), {}, 32),
    (lfsr_module_name(5, 1), {}, 5),
    ("sc_vdc", {"N": 10}, 10),
    ("sc_sng", {"N": 16}, 0),
    ("sc_apc", {"M": 7}, 0),
    ("sc_apc_bipolar", {"M": 16}, 0),
    ("sc_counter_up", {"LENGTH": 255}, 8),
    ("sc_counter_up", {"LENGTH": 256}, 9),
    ("sc_counter_up", {"LENGTH": 1}, 1),
    ("sc_counter_up", {"LENGTH": 2**31 - 1}, 31),  # LENGTH + 1 wraps as a 32-bit integer
    ("sc_counter_updown", {"CW": 6, "DW": 4, "LO": -20, "HI": 20}, 6),
    ("sc_fsm_lin", {"N": 16}, 4),
    ("sc_fsm_lin", {"N": 5}, 3),
    ("sc_fsm_int", {"N": 9, "DW": 5}, 4),
    ("sc_wfsm", {"N": 8, "B": 8, "WEIGHTS": "72'h1_0080_4020_1008_0402_0100"}, 3),
    ("sc_and_array", {"K": 8}, 0),
    ("sc_xnor_array", {"K": 8}, 0),
    ("sc_mux_array", {"K": 8}, 0),
]


@pytest.fixture(scope="module")
def libdir(tmp_path_factory):
    require_tool("yosys")
    d = tmp_path_factory.mktemp("ylib")
    write_library(d, sorted({c[0] for c in CASES}))
    return d


@pytest.mark.parametrize("module,params,ffs", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_primitive_synthesizes(libdir, module, params, ffs):
    stats = yosys_synth(sorted(libdir.glob("*.v")), module, params=params)
    assert stats.flip_flops == ffs
    assert stats.cells > 0 and stats.transistors and stats.transistors > 0
    assert stats.transistors_lower_bound == (ffs > 0)  # no CMOS cost for flip-flops
    assert sum(stats.cell_types.values()) == stats.cells


def test_wfsm_top_synthesizes(tmp_path):
    require_tool("yosys")
    spec = WfsmSpec(9, 5, (32, 0, 7, 19, 32, 1, 0, 31, 16), operands=3)
    f = tmp_path / "wtop.v"
    f.write_text(emit_wfsm(spec, module_name="wtop", width=10, length=1000))
    stats = yosys_synth([f], "wtop")
    # 3 input LFSRs (10 bits), a 16-bit weight LFSR, a 4-bit state, two 10-bit counters
    assert stats.flip_flops == 3 * 10 + 16 + 4 + 2 * 10


def test_stanh_top_has_no_weight_source(tmp_path):
    require_tool("yosys")
    spec = WfsmSpec(8, 8, (0, 0, 0, 0, 256, 256, 256, 256))
    f = tmp_path / "stanh.v"
    f.write_text(emit_wfsm(spec, module_name="stanh", width=16, length=255))
    assert yosys_synth([f], "stanh").flip_flops == 16 + 3 + 2 * 8


def test_yosys_error_is_simulation_error(tmp_path):
    require_tool("yosys")
    bad = tmp_path / "bad.v"
    bad.write_text("module bad(input wire a, output wire y);\n    assign y = a +;\nendmodule\n")
    with pytest.raises(SimulationError, match="yosys failed"):
        yosys_synth([bad], "bad")


def test_parse_stat_rejects_log_without_statistics():
    with pytest.raises(SimulationError):
        parse_yosys_stat("nothing here", "x")
