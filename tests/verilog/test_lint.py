"""``verilator --lint-only -Wall`` is clean on every emitted module, for edge parameter values.

Waivers: none for library modules (one module per file).  The single-file output of emit_wfsm
holds several modules, so DECLFILENAME (file name == module name, a layout convention) is waived
for that file only; the same top is also linted alone in its own file without any waiver.
"""

from __future__ import annotations

import numpy as np
import pytest

from sccompiler.backends.verilog.library import lfsr_module_name, write_library
from sccompiler.backends.verilog.tools import verilator_lint
from sccompiler.backends.verilog.wfsm import WfsmSpec, emit_wfsm
from sccompiler.testing import require_tool

pytestmark = pytest.mark.hw

PARAM_SETS = {
    "sc_vdc": [{"N": 1}, {"N": 8}, {"N": 32}],
    "sc_sng": [{"N": 1}, {"N": 16}, {"N": 32}],
    "sc_sobol_sel": [{"M": 1}, {"M": 8}, {"M": 10}],
    "sc_sobol": [{"N": 1, "M": 1}, {"N": 8, "M": 4, "V": 0x80C0A0F0}, {"N": 16, "M": 10}],
    "sc_apc": [{"M": 1}, {"M": 2}, {"M": 7}, {"M": 64}],
    "sc_apc_bipolar": [{"M": 1}, {"M": 8}, {"M": 100}],
    "sc_counter_up": [{"LENGTH": 1}, {"LENGTH": 255}, {"LENGTH": 256}, {"LENGTH": 2**31 - 1}],
    "sc_counter_updown": [{}, {"SAT_LO": 0, "SAT_HI": 0, "CW": 4, "DW": 6},
                          {"CW": 31, "DW": 2, "LO": -(2**30), "HI": 2**30 - 1}, {"SAT_LO": 0, "CW": 3}],
    "sc_fsm_lin": [{"N": 2}, {"N": 3}, {"N": 16}, {"N": 33, "RESET": 32}],
    "sc_fsm_int": [{"N": 2, "DW": 2}, {"N": 9, "DW": 5}, {"N": 256, "DW": 12, "RESET": 0}],
    "sc_wfsm": [{"N": 2, "B": 1}, {"N": 5, "B": 4}, {"N": 8, "B": 8, "INTEGRAL": 1, "DW": 3},
                {"N": 16, "B": 16, "INTEGRAL": 1, "DW": 8}],
    "sc_resc_select": [{"N": 1, "B": 1}, {"N": 2, "B": 8}, {"N": 7, "B": 4}, {"N": 64, "B": 16}],
    "sc_lut_sng": [{"K": 1, "B": 1}, {"K": 4, "B": 8}, {"K": 10, "B": 12}],
    "sc_not_array": [{"K": 1}, {"K": 8}],
    "sc_mux_array": [{"K": 1}, {"K": 8}],
    **{f"sc_{op}_array": [{"K": 1}, {"K": 8}] for op in ("and", "or", "xor", "xnor")},
}
LFSRS = [(3, 1), (3, 3), (16, 16), (20, 7), (32, 32), (32, 1)]
CASES = [(m, p) for m, ps in PARAM_SETS.items() for p in ps]


@pytest.fixture(scope="module")
def libdir(tmp_path_factory):
    require_tool("verilator")
    d = tmp_path_factory.mktemp("lib")
    write_library(d, list(PARAM_SETS) + [lfsr_module_name(w, s) for w, s in LFSRS])
    return d


def _deps(libdir, top):
    return [libdir / f"{top}.v"] + [p for p in sorted(libdir.glob("*.v")) if p.stem != top]


@pytest.mark.parametrize("module,params", CASES, ids=[f"{m}-{p}" for m, p in CASES])
def test_library_module_lint_clean(libdir, module, params):
    assert verilator_lint(_deps(libdir, module), module, params=params) == []


@pytest.mark.parametrize("width,stride", LFSRS)
@pytest.mark.parametrize("n", [None, 1])
def test_lfsr_lint_clean(libdir, width, stride, n):
    name = lfsr_module_name(width, stride)
    params = {} if n is None else {"N": n, "SEED": f"{width}'h{(1 << width) - 1:x}"}
    assert verilator_lint([libdir / f"{name}.v"], name, params=params) == []


WFSM_CASES = [
    ("lfsr", WfsmSpec(8, 8, (0, 3, 100, 128, 200, 255, 256, 7))),
    ("lfsr", WfsmSpec(9, 5, (32, 0, 7, 19, 32, 1, 0, 31, 16), operands=3)),
    ("sobol", WfsmSpec(4, 3, (0, 3, 5, 8), operands=1)),
    ("port", WfsmSpec(6, 8, (0, 0, 0, 256, 256, 256))),
    ("port", WfsmSpec(2, 20, (1, 1 << 20), operands=5)),
]


@pytest.mark.parametrize("kind,spec", WFSM_CASES)
def test_emitted_wfsm_lint_clean(tmp_path, kind, spec):
    require_tool("verilator")
    full = tmp_path / "wfsm_full.v"
    full.write_text(emit_wfsm(spec, module_name="wfsm_full", input_kind=kind, width=12, length=1000))
    assert verilator_lint([full], "wfsm_full", waivers=["DECLFILENAME"]) == []
    # the top alone, in its own file, next to one-module-per-file library files: no waiver
    (tmp_path / "wfsm_alone.v").write_text(
        emit_wfsm(spec, module_name="wfsm_alone", input_kind=kind, width=12, length=1000, library=False))
    lib = write_library(tmp_path / "lib", ["sc_wfsm", "sc_counter_up", "sc_sng", "sc_vdc",
                                           "sc_apc_bipolar", lfsr_module_name(12),
                                           lfsr_module_name(max(16, spec.weight_bits))])
    assert verilator_lint([tmp_path / "wfsm_alone.v", *lib], "wfsm_alone") == []


def test_lint_reports_warnings(tmp_path):
    """The wrapper really returns -Wall findings (a check that cannot fail would be a defect)."""
    require_tool("verilator")
    bad = tmp_path / "bad_mod.v"
    bad.write_text("module bad_mod(input wire [3:0] a, output wire y);\n    assign y = a[0];\nendmodule\n")
    warnings = verilator_lint([bad], "bad_mod")
    assert any("UNUSED" in w for w in warnings)
    assert np.size(warnings) >= 1
