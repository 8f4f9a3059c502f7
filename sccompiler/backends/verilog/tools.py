"""Thin wrappers over the external HDL tools: Icarus Verilog, Verilator and Yosys.

* :func:`run_icarus` / :func:`run_verilator` compile and run a simulation; a top module with a
  ``clk`` input port is clocked by a generated wrapper (Icarus) or a generated C++ main
  (Verilator, ``--cc --exe --build`` without ``--timing``, which Verilator 5.006 supports and
  builds about twice as fast as ``--binary``).  Builds happen in a temporary directory; the
  simulation runs with ``cwd`` = ``run_dir`` so that ``$readmemh`` finds its files by name.
* :func:`verilator_lint` runs ``verilator --lint-only -Wall`` and returns the warnings.
* :func:`yosys_synth` runs ``synth -top X -flatten; stat; stat -tech cmos`` with the output read
  from a log file (``-l``) and returns cells, flip-flops and the transistor estimate.

A missing program raises :class:`ToolMissingError` with an install hint; a tool failure raises
:class:`SimulationError` carrying the tool's relevant output lines.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ...errors import SCValueError, SimulationError, ToolMissingError, ToolTimeoutError

#: Debian/Ubuntu package providing each program
INSTALL_HINTS: dict[str, str] = {
    "iverilog": "apt-get install iverilog",
    "vvp": "apt-get install iverilog",
    "verilator": "apt-get install verilator",
    "yosys": "apt-get install yosys",
}
DEFAULT_TIMEOUT = 600.0
#: how many diagnostic lines a SimulationError quotes
MAX_QUOTED_LINES = 25
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def which(program: str) -> str:
    """Path of ``program`` or ToolMissingError with an install hint."""
    path = shutil.which(program)
    if path is None:
        hint = INSTALL_HINTS.get(program, f"install {program}")
        raise ToolMissingError(f"{program} is not installed or not on PATH; install it with: {hint}")
    return path


def _check_ident(param: str, name: str) -> str:
    if not isinstance(name, str) or not _IDENT.match(name):
        raise SCValueError(param, f"must be a Verilog identifier, got {name!r}")
    return name


def _sources(sources: Sequence[str | os.PathLike]) -> list[str]:
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    out = []
    for s in sources:
        p = Path(s)
        if not p.is_file():
            raise SCValueError("sources", f"{p} does not exist")
        out.append(str(p.resolve()))
    if not out:
        raise SCValueError("sources", "no Verilog source given")
    return out


def relevant_lines(text: str, limit: int = MAX_QUOTED_LINES) -> str:
    """Error/warning lines of a tool's output (or its tail when none is marked)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    marked = [ln for ln in lines if re.search(r"error|warning|syntax|mismatch|fatal|unknown",
                                              ln, re.IGNORECASE)]
    chosen = marked or lines[-limit:]
    return "\n".join(chosen[:limit])


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc`` and every process it started (its own session), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.communicate()


def _run(cmd: list[str], *, cwd: str | os.PathLike | None, timeout: float, what: str,
         check: bool = True, phase: str = "run") -> subprocess.CompletedProcess:
    """Run ``cmd`` in its own session; past ``timeout`` seconds (or on an interrupt) the whole
    process group is killed -- a Verilator build's make and compilers included -- and a timeout
    raises :class:`ToolTimeoutError`."""
    if timeout <= 0:
        raise ToolTimeoutError(what, phase, 0.0, "no time left")
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ToolTimeoutError(what, phase, timeout) from None
    except BaseException:               # Ctrl-C, SIGTERM (SystemExit): leave no process behind
        _kill_group(proc)
        raise
    if check and proc.returncode != 0:
        detail = relevant_lines(err + "\n" + out)
        raise SimulationError(f"{what} failed (exit {proc.returncode}):\n{detail}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


class _Clock:
    """One time budget over the phases of a run (build, then run)."""

    def __init__(self, timeout: float, on_phase: Callable[[str], None] | None) -> None:
        self.end = time.monotonic() + float(timeout)
        self.on_phase = on_phase

    def phase(self, name: str) -> float:
        """Announce ``name``; the seconds left for it."""
        if self.on_phase is not None:
            self.on_phase(name)
        return self.end - time.monotonic()


@dataclass(frozen=True)
class SimResult:
    """Output of one simulation run."""

    simulator: str
    stdout: str
    stderr: str
    build_seconds: float
    run_seconds: float
    #: the checked testbench size, where the caller set it (:func:`..verify.verify_design`)
    sequences: int | None = None
    steps: int | None = None

    @property
    def passed(self) -> bool:
        """True iff the testbench printed a line ``PASS`` (the convention of our testbenches)."""
        return any(ln.strip().startswith("PASS") for ln in self.stdout.splitlines())


def _icarus_clock_wrapper(top: str, clock: str) -> str:
    return (f"// clock wrapper for simulation only (generated by sccompiler tools.run_icarus)\n"
            f"`timescale 1ns/1ps\n"
            f"module sc_tb_clock;\n"
            f"    reg {clock};\n"
            f"    initial {clock} = 1'b0;\n"
            f"    always #5 {clock} = ~{clock};\n"
            f"    {top} dut (.{clock}({clock}));\n"
            f"endmodule\n")


def run_icarus(sources: Sequence[str | os.PathLike], top: str, *, clock: str | None = "clk",
               run_dir: str | os.PathLike | None = None, defines: Mapping[str, str] | None = None,
               timeout: float = DEFAULT_TIMEOUT, on_phase: Callable[[str], None] | None = None) -> SimResult:
    """Compile ``sources`` with ``iverilog -g2005`` and run ``vvp``; see the module docstring.
    ``timeout``: seconds for the build and the run together; ``on_phase("build" | "run")`` is
    called as each starts."""
    iverilog, vvp = which("iverilog"), which("vvp")
    clock_ = _Clock(timeout, on_phase)
    files = _sources(sources)
    _check_ident("top", top)
    run_dir = Path(run_dir) if run_dir is not None else Path(files[0]).parent
    with tempfile.TemporaryDirectory(prefix="scc-iverilog-") as tmp:
        root = top
        if clock is not None:
            _check_ident("clock", clock)
            wrapper = Path(tmp) / "sc_tb_clock.v"
            wrapper.write_text(_icarus_clock_wrapper(top, clock))
            files = files + [str(wrapper)]
            root = "sc_tb_clock"
        image = str(Path(tmp) / "sim.vvp")
        cmd = [iverilog, "-g2005", "-o", image, "-s", root]
        for k, v in (defines or {}).items():
            cmd.append(f"-D{k}={v}")
        t0 = time.perf_counter()
        _run(cmd + files, cwd=tmp, timeout=clock_.phase("build"), what="iverilog", phase="build")
        t1 = time.perf_counter()
        proc = _run([vvp, "-n", image], cwd=run_dir, timeout=clock_.phase("run"), what="vvp")
        t2 = time.perf_counter()
    return SimResult("icarus", proc.stdout, proc.stderr, t1 - t0, t2 - t1)


def _verilator_main(top: str, clock: str | None) -> str:
    toggle = (f"        top->{clock} = !top->{clock};\n" if clock else "")
    init = f"    top->{clock} = 0;\n" if clock else ""
    return f"""// C++ main for a Verilator model (generated by sccompiler tools.run_verilator)
#include "V{top}.h"
#include "verilated.h"

int main(int argc, char** argv) {{
    VerilatedContext* ctx = new VerilatedContext;
    ctx->commandArgs(argc, argv);
    V{top}* top = new V{top}{{ctx}};
{init}    top->eval();
    unsigned long long edges = 0;
    while (!ctx->gotFinish()) {{
{toggle}        top->eval();
        if (++edges > MAX_EDGES) {{
            VL_PRINTF("ERROR: no $finish after %llu clock edges\\n", edges);
            break;
        }}
    }}
    top->final();
    delete top;
    delete ctx;
    return 0;
}}
"""


def run_verilator(sources: Sequence[str | os.PathLike], top: str, *, clock: str | None = "clk",
                  run_dir: str | os.PathLike | None = None, max_cycles: int = 1 << 34,
                  jobs: int = 2, defines: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT,
                  on_phase: Callable[[str], None] | None = None) -> SimResult:
    """Build ``sources`` with ``verilator --cc --exe --build`` and a generated main; run it.

    The model is compiled with ``-O0`` (a testbench runs briefly; the C++ compile dominates) and
    warnings are not fatal (lint the synthesizable modules with :func:`verilator_lint` instead).
    ``defines``: ``-DNAME=VALUE`` macros; ``timeout`` and ``on_phase`` as in :func:`run_icarus`.
    """
    verilator = which("verilator")
    clock_ = _Clock(timeout, on_phase)
    files = _sources(sources)
    _check_ident("top", top)
    run_dir = Path(run_dir) if run_dir is not None else Path(files[0]).parent
    with tempfile.TemporaryDirectory(prefix="scc-verilator-") as tmp:
        main = Path(tmp) / "sc_main.cpp"
        main.write_text(_verilator_main(top, clock))
        mdir = Path(tmp) / "obj"
        opt = "-O0"
        cmd = [verilator, "--cc", "--exe", "--build", "-j", str(jobs), "-Wno-fatal", "-Wno-lint",
               "-Wno-style", "--top-module", top, "--Mdir", str(mdir),
               "-CFLAGS", f"-DMAX_EDGES={2 * max_cycles}ULL",
               "-MAKEFLAGS", f"OPT_FAST={opt} OPT_SLOW={opt} OPT_GLOBAL={opt}",
               *[f"-D{_check_ident('defines', k)}={v}" for k, v in (defines or {}).items()],
               *files, str(main)]
        t0 = time.perf_counter()
        _run(cmd, cwd=tmp, timeout=clock_.phase("build"), what="verilator", phase="build")
        t1 = time.perf_counter()
        proc = _run([str(mdir / f"V{top}")], cwd=run_dir, timeout=clock_.phase("run"), what="verilated model")
        t2 = time.perf_counter()
    return SimResult("verilator", proc.stdout, proc.stderr, t1 - t0, t2 - t1)


SIMULATORS = {"icarus": run_icarus, "verilator": run_verilator}
#: the program each simulator needs on PATH
SIMULATOR_PROGRAMS = {"icarus": "iverilog", "verilator": "verilator"}


def default_simulator() -> str:
    """``"verilator"`` when it is installed (its build costs tens of seconds, after which it runs a
    large design's testbench orders of magnitude faster than Icarus), else ``"icarus"``."""
    return "verilator" if shutil.which("verilator") else "icarus"


def resolve_simulator(simulator: str | None) -> str:
    """``None`` / ``"auto"`` -> :func:`default_simulator`; a simulator's one name is checked
    (``iverilog`` is the program, the simulator's name is ``icarus``)."""
    if simulator is None or simulator == "auto":
        return default_simulator()
    if simulator not in SIMULATORS:
        hint = " (the simulator's name is 'icarus'; iverilog is its compiler)" if simulator == "iverilog" else ""
        raise SCValueError("simulator", f"must be one of {sorted(SIMULATORS)} or 'auto', got {simulator!r}{hint}")
    return simulator


def simulate(sources: Sequence[str | os.PathLike], top: str, *, simulator: str | None = "icarus",
             **kwargs) -> SimResult:
    """Run ``sources`` under ``simulator`` ("icarus", "verilator", or "auto"/None: Verilator
    when installed, else Icarus)."""
    simulator = resolve_simulator(simulator)
    return SIMULATORS[simulator](sources, top, **kwargs)


_LITERAL = re.compile(r"^\d+'[sS]?[hHdDbBoO][0-9a-fA-F_]+$")


def _param_value(name: str, value: int | str) -> str:
    """A parameter override: an int, or a sized Verilog literal such as ``3'h7``."""
    if isinstance(value, str):
        if not _LITERAL.match(value):
            raise SCValueError(f"params[{name}]", f"must be an int or a sized literal like 8'hff, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise SCValueError(f"params[{name}]", f"must be an int or a sized literal, got {value!r}")
    return str(value)


def _yosys_value(name: str, value: int | str) -> str:
    """Yosys cannot decode ``-20``: negative ints become 32-bit signed two's-complement literals."""
    text = _param_value(name, value)
    if isinstance(value, int) and value < 0:
        if value < -(1 << 31):
            raise SCValueError(f"params[{name}]", f"below the 32-bit integer range: {value}")
        return f"32'sh{value & 0xFFFFFFFF:x}"
    return text


def _param_args(params: Mapping[str, int | str] | None, flag: str) -> list[str]:
    return [f"{flag}{_check_ident('params', k)}={_param_value(k, v)}" for k, v in (params or {}).items()]


def verilator_lint(sources: Sequence[str | os.PathLike], top: str, *,
                   params: Mapping[str, int | str] | None = None, waivers: Sequence[str] = (),
                   timeout: float = 120.0) -> list[str]:
    """``verilator --lint-only -Wall``: the warning lines (empty = clean).

    ``params`` override parameters (``-G``): ints, or sized literals (``"3'h7"``) for sized
    parameters.  ``waivers`` are warning codes passed as ``-Wno-CODE``; the caller justifies each.  Errors
    (syntax, elaboration) raise :class:`SimulationError`.
    """
    verilator = which("verilator")
    files = _sources(sources)
    _check_ident("top", top)
    cmd = [verilator, "--lint-only", "-Wall", "--top-module", top,
           *[f"-Wno-{_check_ident('waivers', w)}" for w in waivers],
           *_param_args(params, "-G"), *files]
    proc = _run(cmd, cwd=None, timeout=timeout, what="verilator --lint-only", check=False)
    text = proc.stderr + proc.stdout
    warnings = [ln for ln in text.splitlines() if ln.startswith("%Warning")]
    errors = [ln for ln in text.splitlines() if ln.startswith("%Error") and "Exiting due to" not in ln]
    if errors:
        raise SimulationError("verilator --lint-only failed:\n" + "\n".join(errors[:MAX_QUOTED_LINES]))
    if proc.returncode != 0 and not warnings:
        raise SimulationError(f"verilator --lint-only failed (exit {proc.returncode}):\n"
                              + relevant_lines(text))
    return warnings


@dataclass(frozen=True)
class SynthStats:
    """Yosys ``stat`` of a flattened design."""

    top: str
    cells: int
    cell_types: dict[str, int] = field(default_factory=dict)
    flip_flops: int = 0
    #: ``stat -tech cmos`` estimate; Yosys's CMOS table has no flip-flop cost, so with registers
    #: it covers only the combinational cells and is a lower bound (Yosys prints "N+")
    transistors: int | None = None
    transistors_lower_bound: bool = False
    log: str = field(default="", repr=False)


def parse_yosys_stat(log: str, top: str) -> SynthStats:
    """Parse the last two ``stat`` reports of a log: generic cells, then ``stat -tech cmos``."""
    blocks = re.split(r"\n\d+\.\s+Printing statistics\.", log)
    if len(blocks) < 3:
        raise SimulationError("yosys log has no statistics:\n" + relevant_lines(log))
    generic, cmos = blocks[-2], blocks[-1]
    m = re.search(r"Number of cells:\s+(\d+)", generic)
    if m is None:
        raise SimulationError("yosys stat: no cell count in the log:\n" + relevant_lines(generic))
    types: dict[str, int] = {}
    after = generic[m.end():]
    for line in after.splitlines():
        t = re.match(r"\s+(\$?[\w$]+)\s+(\d+)\s*$", line)
        if t:
            types[t.group(1)] = int(t.group(2))
        elif line.strip() and types:
            break
    ffs = sum(n for k, n in types.items() if "DFF" in k.upper() or "LATCH" in k.upper())
    tm = re.search(r"Estimated number of transistors:\s+(\d+)(\+?)", cmos)
    return SynthStats(top=top, cells=int(m.group(1)), cell_types=types, flip_flops=ffs,
                      transistors=int(tm.group(1)) if tm else None,
                      transistors_lower_bound=bool(tm and tm.group(2)), log=log)


def yosys_synth(sources: Sequence[str | os.PathLike], top: str, *,
                params: Mapping[str, int | str] | None = None, timeout: float = 300.0) -> SynthStats:
    """``yosys``: read, ``synth -top TOP -flatten``, ``stat`` and ``stat -tech cmos``."""
    yosys = which("yosys")
    files = _sources(sources)
    _check_ident("top", top)
    with tempfile.TemporaryDirectory(prefix="scc-yosys-") as tmp:
        script = Path(tmp) / "synth.ys"
        chparams = "".join(f" -chparam {_check_ident('params', k)} {_yosys_value(k, v)}"
                           for k, v in (params or {}).items())
        reads = "".join(f"read_verilog -defer {f}\n" for f in files)
        script.write_text(f"{reads}hierarchy -top {top}{chparams}\n"
                          f"synth -top {top} -flatten\nstat\nstat -tech cmos\n")
        logfile = Path(tmp) / "yosys.log"
        proc = _run([yosys, "-q", "-l", str(logfile), "-s", str(script)], cwd=tmp, timeout=timeout,
                    what="yosys", check=False, phase="synth")
        log = logfile.read_text() if logfile.exists() else ""
        if proc.returncode != 0:
            raise SimulationError(f"yosys failed (exit {proc.returncode}):\n"
                                  + relevant_lines(proc.stderr + "\n" + log))
    return parse_yosys_stat(log, top)
