"""Verification of emitted designs (the SC top and the fixed-point baseline alike, both
described by ``OUTDIR/tb/manifest.json``): co-simulation under Icarus Verilog or Verilator
(:func:`verify_design`, several designs in one build: :func:`verify_designs`) and Yosys
synthesis with its numbers written to ``OUTDIR/synth.json`` (:func:`synthesize_design`, next
to the compiler's analytic estimate from ``OUTDIR/report.json``).  The programs themselves are
run by :mod:`.tools`."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from ...errors import ModelFormatError, SCValueError
from ...io import atomic_file, read_json, regular_file
from .tools import DEFAULT_TIMEOUT, resolve_simulator, simulate, yosys_synth
from .verilog_text import VerilogModule


def read_manifest(outdir: str | Path, hint: str = "compile with --emit verilog first") -> dict:
    """OUTDIR/tb/manifest.json, or ModelFormatError naming what to do."""
    path = Path(outdir) / "tb" / "manifest.json"
    if not path.exists():
        raise ModelFormatError(f"{outdir}: no tb/manifest.json ({hint})")
    man = read_json(path, "manifest", ModelFormatError, dict)
    for key in ("top", "testbench"):
        if not isinstance(man.get(key), str) or not _IDENT.fullmatch(man[key]):
            raise ModelFormatError(f"{path}: {key!r} must be a Verilog identifier, got {man.get(key)!r}")
    rtl = man.get("rtl")
    if not isinstance(rtl, list) or not rtl:
        raise ModelFormatError(f"{path}: 'rtl' must be a non-empty list of file names")
    for name in rtl:
        # plain names inside OUTDIR/rtl only: the manifest cannot point the tools elsewhere
        if not isinstance(name, str) or not _FILE.fullmatch(name):
            raise ModelFormatError(f"{path}: 'rtl' entry {name!r} is not a plain .v file name")
        regular_file(Path(outdir) / "rtl" / name, "RTL file", ModelFormatError)
    regular_file(Path(outdir) / "tb" / f"{man['testbench']}.v", "testbench", ModelFormatError)
    return man


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_FILE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}\.v")


#: testbench size checked by default (capped by what the testbench holds): a 1x32 LSTM at
#: L = 256 builds and runs under Verilator in about 40 s on a 2-core machine (docs/verilog.md)
DEFAULT_SEQUENCES = 2
DEFAULT_STEPS = 32


def checked_size(man: dict, sequences: int | None = None, steps: int | None = None) -> tuple[int, int]:
    """The (sequences, steps) a run of this testbench checks: the given numbers, or the defaults
    (:data:`DEFAULT_SEQUENCES` x :data:`DEFAULT_STEPS`), never more than the stored vectors hold."""
    full = {"sequences": man.get("sequences"), "steps": man.get("steps")}
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in full.values()):
        raise ModelFormatError(f"tb/manifest.json: 'sequences' and 'steps' must be integers >= 1, got {full}")
    got = {}
    # a head on the last step is checked once, after the last stored step: every step must run
    whole_steps = bool(man.get("per_sequence")) or bool(man.get("bidirectional"))
    if whole_steps and steps is not None and steps != full["steps"]:
        why = " has a bidirectional layer (its backward direction reads the whole sequence)" \
            if man.get("bidirectional") else "'s head runs on the last step"
        raise SCValueError("steps", f"this design{why}, so all {full['steps']} stored steps "
                                    "are run and checked; leave --steps out (or emit shorter test sequences)")
    for name, value, default in (("sequences", sequences, DEFAULT_SEQUENCES), ("steps", steps, DEFAULT_STEPS)):
        if value is None:
            prefix = man.get("size_macros") and not (name == "steps" and whole_steps)
            got[name] = min(default, full[name]) if prefix else full[name]
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SCValueError(name, f"must be an integer >= 1, got {value!r}")
        if value > full[name]:
            raise SCValueError(name, f"the testbench holds {full[name]} {name}, cannot check {value} (emit it "
                                     "with more test inputs)")
        if value != full[name] and not man.get("size_macros"):
            raise SCValueError(name, "this testbench was emitted by an older version and checks all its "
                                     f"{full[name]} {name}; emit it again to choose")
        got[name] = value
    return got["sequences"], got["steps"]


def verify_design(outdir: str | Path, simulator: str | None = None, *, sequences: int | None = None,
                  steps: int | None = None, timeout: float = DEFAULT_TIMEOUT,
                  on_phase: Callable[[str], None] | None = None):
    """Build and run OUTDIR/tb against OUTDIR/rtl; returns (passed, SimResult).

    ``simulator``: "icarus", "verilator", or None / "auto" (Verilator when installed, else
    Icarus).  ``sequences`` / ``steps``: how much of the stored vectors is checked (the first
    sequences, the first steps of each; default :func:`checked_size`).  ``timeout``: seconds for
    the build and the run together; past it the tools are killed and
    :class:`~sccompiler.errors.ToolTimeoutError` is raised.  ``on_phase("build" | "run")`` is
    called as each phase starts."""
    out = Path(outdir)
    man = read_manifest(out)
    B, T = checked_size(man, sequences, steps)
    simulator = resolve_simulator(simulator)
    sources = [out / "rtl" / f for f in man["rtl"]] + [out / "tb" / f"{man['testbench']}.v"]
    defines = {}
    if man.get("size_macros"):
        macros = man["size_macros"]
        if not isinstance(macros, dict) or not all(isinstance(macros.get(k), str) and _IDENT.fullmatch(macros[k])
                                                   for k in ("sequences", "steps")):
            raise ModelFormatError(f"{out}/tb/manifest.json: 'size_macros' must name two Verilog macros")
        defines = {macros["sequences"]: str(B), macros["steps"]: str(T)}
    res = simulate(sources, man["testbench"], simulator=simulator, run_dir=out / "tb", defines=defines,
                   timeout=timeout, on_phase=on_phase)
    res = dataclasses.replace(res, sequences=B, steps=T)
    return res.passed and "MISMATCH" not in res.stdout, res


def verify_designs(outdirs: list[str | Path], simulator: str | None = "icarus",
                   run_dir: str | Path | None = None) -> tuple[dict[str, bool], Any]:
    """Co-simulate several emitted designs in ONE build (one Verilator compile instead of one per
    design): their tops must have distinct names (``emit_design(..., top=...)``); the library
    modules they share are identical by construction (checked).  Every testbench runs with
    ``FINISH = 0`` under a generated wrapper that stops when all have finished.  Returns
    ({top: passed}, SimResult); a top passes when its testbench printed its PASS line."""
    mans = [(Path(d), read_manifest(d, "emit the design first")) for d in outdirs]
    tops = [m["top"] for _, m in mans]
    if len(set(tops)) != len(tops):
        raise SCValueError("outdirs", f"the designs' tops must have distinct names, got {tops}")
    with tempfile.TemporaryDirectory(prefix="scc-designs-") as tmp:
        work = Path(run_dir) if run_dir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        sources: dict[str, Path] = {}
        for d, man in mans:
            for name in man["rtl"]:
                f = d / "rtl" / name
                if name in sources and sources[name].read_text() != f.read_text():
                    raise SCValueError("outdirs", f"{name} differs between {sources[name]} and {f}")
                sources.setdefault(name, f)
            for f in (d / "tb").iterdir():
                if f.suffix == ".hex":
                    shutil.copyfile(f, work / f.name)
        wrapper = work / "sc_designs_tb.v"
        done = " && ".join(f"u{k}.finished" for k in range(len(mans)))
        note = "// several design testbenches in one simulation (generated by design.verify_designs)"
        tb = VerilogModule("sc_designs_tb", [note], inline_ports="input wire clk")
        body = tb.section("body")
        for k, (_, man) in enumerate(mans):
            body.instance(man["testbench"], f"u{k}", [("FINISH", 0)], [("clk", "clk")])
        body.always_single("posedge clk", f"if ({done}) $finish;")
        wrapper.write_text(tb.text())
        files = list(sources.values()) + [d / "tb" / f"{m['testbench']}.v" for d, m in mans] + [wrapper]
        res = simulate(files, "sc_designs_tb", simulator=simulator, run_dir=work)
    lines = res.stdout.splitlines()
    # a testbench prints its PASS line only with zero mismatches of its own
    return {top: any(ln.startswith(f"PASS {top}:") for ln in lines) for top in tops}, res


def analytic_cost(outdir: Path) -> dict | None:
    """The compiler's analytic cost of the SC design (OUTDIR/report.json, written by
    ``CompiledDesign.save`` / ``scc compile -o OUTDIR``), or None."""
    rep = outdir / "report.json"
    if not rep.is_file():
        return None
    try:
        cost = json.loads(rep.read_text()).get("cost") or {}
        c = cost["designs"][cost["sc"]]["cost"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError, RecursionError, AttributeError):
        return None
    return {"design": cost["sc"], "flip_flops": c.get("flip_flops"), "gate_equivalents": c.get("gate_equivalents"),
            "area": c.get("area"), "area_unit": c.get("area_unit"), "rng_count": c.get("rng_count"),
            "sng_count": c.get("sng_count"), "target": c.get("target")}


def synthesize_design(outdir: str | Path, *, write: bool = True, timeout: float = 3600.0):
    """Synthesize OUTDIR/rtl with Yosys (``synth -flatten``, ``stat``, ``stat -tech cmos``; the log
    is read from its file) and return its :class:`~.tools.SynthStats`.  With ``write`` the
    numbers (+ the compiler's analytic estimate from OUTDIR/report.json, when there) are written
    atomically to OUTDIR/synth.json (replacing an older one: it describes the current rtl/)."""
    out = Path(outdir)
    man = read_manifest(out)
    stats = yosys_synth([out / "rtl" / f for f in man["rtl"]], man["top"], timeout=timeout)
    if write:
        with atomic_file(out / "synth.json", force=True) as fh:
            json.dump(synth_summary(stats, out), fh, indent=1)
    return stats


def synth_summary(stats, outdir: str | Path | None = None) -> dict:
    """JSON-ready Yosys numbers of a design (+ the analytic estimate when OUTDIR has a report)."""
    return {"top": stats.top, "tool": "yosys", "cells": stats.cells, "flip_flops": stats.flip_flops,
            "transistors": stats.transistors, "transistors_lower_bound": stats.transistors_lower_bound,
            "transistors_note": ("Yosys's CMOS table has no flip-flop cost: the estimate covers combinational "
                                 "cells only" if stats.transistors_lower_bound else ""),
            "cell_types": dict(stats.cell_types),
            "analytic": analytic_cost(Path(outdir)) if outdir is not None else None}
