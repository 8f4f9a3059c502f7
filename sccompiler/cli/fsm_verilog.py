"""The ``--verilog FILE`` / ``--testbench`` part of ``scc fsm`` (kept here so that the verb's
module only needs two calls): option checks before the synthesis runs, and the file writing.

Mirrors :func:`sccompiler.backends.verilog.emit_wfsm` / :func:`~sccompiler.backends.verilog.
emit_wfsm_testbench`: the module's input SNGs use ``--source`` (lfsr = leap-forward, 16 bits, as
the bit-level simulation), its ones counter runs ``--length`` cycles, and the testbench checks the
``--points`` inputs of the simulation with the seeds ``simulate_fsm`` gives them for ``--seed``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import SCValueError

#: comparator width of the emitted input SNGs (the width simulate_design uses)
VERILOG_WIDTH = 16


def module_name_for(path: str | Path) -> str:
    """A Verilog module name from a file name: ``out/tanh-8.v`` -> ``tanh_8``."""
    from ..backends.verilog.library import FIXED_MODULES  # noqa: PLC0415

    stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(path).stem) or "wfsm"
    if not re.match(r"[A-Za-z_]", stem) or stem in FIXED_MODULES or stem.startswith("sc_lfsr_"):
        stem = f"wfsm_{stem}"
    return stem


def check_verilog_options(verilog: str | None, testbench: bool, source: str, length: int,
                          force: bool) -> None:
    """Fail before the synthesis if the Verilog options cannot be honoured."""
    from ..io import check_writable  # noqa: PLC0415

    if testbench and not verilog:
        raise SCValueError("--testbench", "needs --verilog FILE (the testbench is written next to it)")
    if not verilog:
        return
    if source == "ideal":
        raise SCValueError("--source", "ideal sources are analysis-only and have no RTL; "
                                       "use --source lfsr or sobol with --verilog")
    if length < 1:
        raise SCValueError("--length", "--verilog needs --length >= 1 (the cycles its counter counts)")
    for p in planned_files(verilog, testbench):
        check_writable(p, force)


def planned_files(verilog: str | Path, testbench: bool) -> list[Path]:
    path = Path(verilog)
    if not testbench:
        return [path]
    name = module_name_for(path)
    return [path, path.with_name(f"{name}_tb.v"), path.with_name(f"{name}_tb_exp.hex")]


def write_fsm_verilog(design: Any, verilog: str, *, testbench: bool, source: str, length: int,
                      points: int, seed: int, force: bool) -> dict[str, Any]:
    """Write the module (and testbench); return the report entry."""
    from ..backends.verilog.wfsm import write_wfsm_files  # noqa: PLC0415
    from ..fsm.simulate import simulation_inputs  # noqa: PLC0415

    name = module_name_for(verilog)
    inputs = simulation_inputs(design, points)[1] if testbench else None
    written = write_wfsm_files(design, verilog, testbench_inputs=inputs, force=force,
                               module_name=name, input_kind=source, width=VERILOG_WIDTH,
                               seed=seed, length=length)
    entry: dict[str, Any] = {"module": name, "files": [str(p) for p in written],
                             "input_source": source, "width": VERILOG_WIDTH, "length": length}
    if testbench:
        tb = f"{name}_tb"
        entry["testbench"] = tb
        entry["run"] = (f"cd {Path(verilog).parent} && iverilog -g2005 -s {tb}_run -o {tb}.vvp "
                        f"{Path(verilog).name} {tb}.v && vvp {tb}.vvp")
    return entry


def format_entry(entry: dict[str, Any]) -> str:
    text = f"verilog   module {entry['module']}: {', '.join(entry['files'])}"
    if "testbench" in entry:
        text += f"\ntestbench {entry['testbench']}: {entry['run']}"
    return text
