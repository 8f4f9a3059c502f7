"""Shared fixtures of the Verilog backend tests: the co-simulation suite is built and run once
per simulator per session (one compile each), and every test reads its own checks from it."""

from __future__ import annotations

import pytest

from sccompiler.backends.verilog.harness import mismatches, parse_results
from sccompiler.backends.verilog.tools import simulate
from sccompiler.testing import require_tool

from .cosim import build_suite

SIMULATOR_PROGRAMS = {"icarus": ("iverilog", "vvp"), "verilator": ("verilator",)}


@pytest.fixture(scope="session")
def suite():
    return build_suite()


@pytest.fixture(scope="session")
def _suite_runs(suite, tmp_path_factory):
    return {}


@pytest.fixture(params=["icarus", "verilator"])
def suite_run(request, suite, _suite_runs, tmp_path_factory):
    """(results {label: errors}, stdout) of the suite under one simulator."""
    simulator = request.param
    for prog in SIMULATOR_PROGRAMS[simulator]:
        require_tool(prog)
    if simulator not in _suite_runs:
        d = tmp_path_factory.mktemp(f"suite_{simulator}")
        files = suite.write(d)
        res = simulate(files, suite.harness.name, simulator=simulator, run_dir=d)
        _suite_runs[simulator] = (parse_results(res.stdout), res.stdout, mismatches(res.stdout))
    return _suite_runs[simulator]
