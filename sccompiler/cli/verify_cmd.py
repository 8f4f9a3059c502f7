"""``scc verify OUTDIR``: build and run the testbench that ``scc compile --emit verilog`` wrote
(OUTDIR/rtl, OUTDIR/tb) under Verilator (the default when installed) or Icarus Verilog; exit 0
only when every checked per-step value of the RTL equals the Python simulator's, bit for bit.
``--sequences`` / ``--steps`` check a prefix of the stored vectors, ``--timeout`` bounds build +
run.  ``--synth`` then runs Yosys on OUTDIR/rtl and writes OUTDIR/synth.json.  Mirrors
:func:`sccompiler.backends.verilog.design.verify_design` and
:func:`~sccompiler.backends.verilog.design.synthesize_design`."""

from __future__ import annotations

import click

from .common import echo_json
from .progress import phases, progress_enabled, quiet_option

#: the simulators' one name each ("auto": Verilator when installed, else Icarus)
SIMULATOR_CHOICES = ("auto", "icarus", "verilator")


def _simulator(_ctx, _param, value: str) -> str:
    if value == "iverilog":     # the program, not the simulator's name: one thing, one name
        raise click.BadParameter("the simulator is called 'icarus' (iverilog is its compiler): use --simulator icarus")
    if value not in SIMULATOR_CHOICES:
        raise click.BadParameter(f"{value!r} is not one of {', '.join(SIMULATOR_CHOICES)}")
    return value


def simulator_option(help_text: str) -> click.Option:
    return click.option("--simulator", default="auto", show_default=True, callback=_simulator,
                        metavar="[" + "|".join(SIMULATOR_CHOICES) + "]",
                        help=help_text + " (auto: Verilator when installed -- far faster on large designs -- "
                                         "else Icarus)")


def timeout_error(exc, simulator: str, timeout: float) -> Exception:
    """A ToolTimeoutError in the CLI's words: the flag, and the faster option."""
    from ..errors import SimulationError  # noqa: PLC0415

    faster = ("use --simulator verilator (builds once, then runs large designs orders of magnitude faster), "
              "check less with --sequences/--steps, or raise --timeout" if simulator == "icarus" else
              "check less with --sequences/--steps, or raise --timeout")
    return SimulationError(f"--timeout {timeout:g}: the {simulator} {exc.phase} ({exc.tool}) did not finish "
                           f"within {timeout:g} s and was stopped; {faster}")


def run_verify(outdir: str, simulator: str, sequences: int | None, steps: int | None, timeout: float,
               show: bool, what: str = "verify"):
    """verify_design with a phase spinner and the timeout in CLI words; (passed, SimResult, simulator)."""
    from ..backends.verilog.design import verify_design  # noqa: PLC0415
    from ..backends.verilog.tools import resolve_simulator  # noqa: PLC0415
    from ..errors import ConfigError, SCValueError, ToolTimeoutError  # noqa: PLC0415

    sim = resolve_simulator(simulator)
    with phases(show, f"{what} ({sim})") as phase:
        try:
            passed, res = verify_design(outdir, sim, sequences=sequences, steps=steps, timeout=timeout,
                                        on_phase=phase)
        except ToolTimeoutError as exc:
            raise timeout_error(exc, sim, timeout) from None
        except SCValueError as exc:
            if exc.param not in ("sequences", "steps"):
                raise
            raise ConfigError(f"--{exc}") from None
    return passed, res, sim


def verify_doc(passed: bool, res, chosen: str) -> dict:
    """The JSON of one verification (``scc verify`` and ``scc baseline --verify``)."""
    from ..backends.verilog.harness import mismatches  # noqa: PLC0415

    return {"passed": passed, "simulator": res.simulator,
            "simulator_choice": ("auto: verilator is installed" if chosen == "auto" and res.simulator == "verilator"
                                 else "auto: verilator is not installed" if chosen == "auto" else "--simulator"),
            "sequences": res.sequences, "steps": res.steps,
            "mismatches": mismatches(res.stdout),
            "summary": [ln for ln in res.stdout.splitlines() if ln.startswith(("PASS", "FAIL"))],
            "build_seconds": res.build_seconds, "run_seconds": res.run_seconds}


def synth_with_progress(outdir: str, show: bool):
    from ..backends.verilog.design import synthesize_design  # noqa: PLC0415

    with phases(show, "yosys") as phase:
        phase("synthesizing")
        return synthesize_design(outdir)


@click.command("verify")
@click.argument("outdir", type=click.Path(exists=True, file_okay=False))
@simulator_option("HDL simulator that runs the testbench")
@click.option("--sequences", "sequences", type=click.IntRange(1), default=None,
              help="check the first N sequences of the testbench  [default: 2, or all it holds if fewer]")
@click.option("--steps", "steps", type=click.IntRange(1), default=None,
              help="check the first T steps of each sequence  [default: 32, or all it holds if fewer]")
@click.option("--timeout", "timeout", type=click.FloatRange(min=0, min_open=True), default=600.0, show_default=True,
              help="seconds for the simulator's build and run together; past it the tools are stopped")
@click.option("--synth", is_flag=True,
              help="also synthesize OUTDIR/rtl with Yosys: cells, flip-flops, transistor estimate "
                   "(-> OUTDIR/synth.json)")
@click.option("--inputs", "inputs", type=click.Path(exists=True, dir_okay=False), default=None,
              help="test vectors (.npy, (B, T, F) or token ids (B, T)) instead of the stored ones: the design is "
                   "emitted again with them into a temporary directory (OUTDIR is not changed) and all of them "
                   "are checked unless --sequences/--steps say less")
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable result")
def verify_cmd(outdir: str, simulator: str, sequences: int | None, steps: int | None, timeout: float, synth: bool,
               inputs: str | None, quiet: bool, as_json: bool) -> None:
    """Run OUTDIR's RTL testbench; exit 0 only on a bit-exact match."""
    from ..backends.verilog.design import synth_summary  # noqa: PLC0415
    from ..errors import SimulationError  # noqa: PLC0415

    show = progress_enabled(quiet, as_json)
    if inputs is None:
        passed, res, sim = run_verify(outdir, simulator, sequences, steps, timeout, show)
    else:
        passed, res, sim = _verify_with_inputs(outdir, inputs, simulator, sequences, steps, timeout, show)
    doc = verify_doc(passed, res, simulator)
    if inputs is not None:
        doc["inputs"] = str(inputs)
    stats = synth_with_progress(outdir, show) if synth and passed else None
    if as_json:
        if stats is not None:
            doc["synth"] = synth_summary(stats, outdir)
        echo_json(doc)
    else:
        for line in doc["mismatches"] + doc["summary"]:
            click.echo(line)
        click.echo(f"{sim} ({doc['simulator_choice']}): {res.sequences} sequence(s) x {res.steps} step(s) checked; "
                   f"build {res.build_seconds:.1f} s, run {res.run_seconds:.1f} s")
        if stats is not None:
            echo_synth(stats, outdir, synth_summary(stats, outdir)["analytic"])
    if not passed:
        what = doc["summary"][-1] if doc["summary"] else "no PASS line from the testbench"
        raise SimulationError(f"verify {outdir} ({res.simulator}): RTL does not match the simulator: {what}")


def _verify_with_inputs(outdir: str, inputs: str, simulator: str, sequences: int | None, steps: int | None,
                       timeout: float, show: bool):
    """The compiled design of OUTDIR emitted with the user's vectors into a temporary directory, verified there."""
    import tempfile  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from ..backends.verilog.design import emit_design  # noqa: PLC0415
    from ..design import load_design  # noqa: PLC0415
    from ..errors import ConfigError, SCValueError  # noqa: PLC0415
    from .compile_cmd import load_inputs  # noqa: PLC0415

    if not (Path(outdir) / "design.json").is_file():
        raise ConfigError(f"--inputs: {outdir} holds no compiled SC design (design.json); a fixed-point baseline "
                          "is emitted with its vectors by `scc baseline --emit`")
    from ..reference import check_input  # noqa: PLC0415

    design = load_design(outdir)
    x = load_inputs(inputs, "--inputs")
    try:
        check_input(design.model, x)          # the model's input kind and width, before any emission
    except SCValueError as exc:
        raise ConfigError(f"--inputs {inputs}: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="scc-verify-") as tmp:
        emit_design(design, tmp, inputs=x, force=True)
        B, T = int(x.shape[0]), int(x.shape[1])
        return run_verify(tmp, simulator, sequences or B, steps or T, timeout, show)


def echo_synth(stats, outdir: str, analytic: dict | None) -> None:
    """Yosys's numbers of OUTDIR (and the compiler's analytic estimate next to them) as text."""
    tr = ("no transistor estimate" if stats.transistors is None else
          f"~{stats.transistors}+ transistors (combinational cells only)" if stats.transistors_lower_bound
          else f"~{stats.transistors} transistors")
    click.echo(f"yosys: {stats.cells} cells, {stats.flip_flops} flip-flops, {tr} -> {outdir}/synth.json")
    if analytic:
        rngs = f", {analytic['rng_count']} RNGs" if analytic.get("rng_count") else ""
        click.echo(f"analytic estimate ({analytic['design']}): {analytic['flip_flops']} flip-flops, "
                   f"{analytic['gate_equivalents']:.0f} gate equivalents{rngs}")
