"""Verilog-2005 backend: the SC primitive library, standalone weighted-FSM emission, co-simulation
testbenches and thin wrappers over Icarus Verilog, Verilator and Yosys.  See docs/verilog.md.

Every module implements docs/semantics.md cycle for cycle; parameters that depend on data (LFSR
tap masks and leap networks, seeds, weight-source widths, thresholds, counter widths) are taken
from :mod:`sccompiler.sim`, never restated.
"""

from .harness import Harness, mismatches, parse_results
from .library import FIXED_MODULES, emit_lfsr, emit_library, lfsr_module_name, module_text, write_library
from .tools import SimResult, SynthStats, run_icarus, run_verilator, simulate, verilator_lint, yosys_synth
from .wfsm import WfsmSpec, emit_wfsm, emit_wfsm_testbench, reference_trace, write_wfsm_files

__all__ = [
    "FIXED_MODULES", "Harness", "SimResult", "SynthStats", "WfsmSpec", "emit_library", "emit_lfsr",
    "emit_wfsm", "emit_wfsm_testbench", "lfsr_module_name", "mismatches", "module_text",
    "parse_results", "reference_trace", "run_icarus", "run_verilator", "simulate", "verilator_lint",
    "write_library", "write_wfsm_files", "yosys_synth",
]
