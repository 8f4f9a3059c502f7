"""``scc baseline MODEL -o OUTDIR``: emit the k-bit fixed-point BASELINE of MODEL as synthesizable
Verilog (OUTDIR/rtl), with a self-checking testbench bit-exact with the integer model (OUTDIR/tb)
and the analytic estimate (OUTDIR/report.json).  ``--verify`` co-simulates it, ``--synth`` runs
Yosys (OUTDIR/synth.json, Yosys next to the analytic numbers).  Mirrors
:func:`sccompiler.backends.verilog.fixed_point.emit_fixed_point_design`,
:func:`~sccompiler.backends.verilog.design.verify_design` and
:func:`~sccompiler.backends.verilog.design.synthesize_design`."""

from __future__ import annotations

import click

from ..errors import ConfigError
from .common import bits_option, echo_json
from .progress import phases, progress_enabled, quiet_option
from .verify_cmd import run_verify, simulator_option, synth_with_progress, verify_doc


def _load_model(path: str):
    try:
        from ..frontends import load_model  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - the frontends ship with the package
        raise ConfigError(f"model loading is not available: {exc}") from None
    return load_model(path)


@click.command("baseline")
@click.argument("model", type=click.Path(exists=True, dir_okay=True))
@click.option("-o", "--output", "outdir", required=True, type=click.Path(), help="output directory")
@bits_option("fixed-point width k (weights, activations, LUT inputs/outputs; Verilog emission up to 12)")
@click.option("--weights", "weights", type=click.Choice(["wired", "loadable"]), default="wired", show_default=True,
              help="wired: constant weights; loadable: weights in a scan-chain register the testbench loads")
@click.option("--inputs", "inputs", type=click.Path(exists=True, dir_okay=False), default=None,
              help=".npy float inputs (B, T, features) for the testbench (default: 2 x 3 random)")
@click.option("--verify", "verify", is_flag=True, help="co-simulate the testbench (exit non-zero on a mismatch)")
@simulator_option("HDL simulator for --verify")
@click.option("--timeout", "timeout", type=click.FloatRange(min=0, min_open=True), default=600.0, show_default=True,
              help="seconds for --verify's build and run together")
@click.option("--synth", is_flag=True, help="synthesize OUTDIR/rtl with Yosys (-> OUTDIR/synth.json)")
@click.option("--force", is_flag=True, help="overwrite OUTDIR/rtl, tb, report.json")
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable result")
def baseline_cmd(model: str, outdir: str, bits: int, weights: str, inputs: str | None, verify: bool,
                 simulator: str, timeout: float, synth: bool, force: bool, quiet: bool, as_json: bool) -> None:
    """Emit MODEL's k-bit fixed-point baseline as Verilog in OUTDIR."""
    import os  # noqa: PLC0415

    from ..backends.verilog.design import synth_summary  # noqa: PLC0415
    from ..backends.verilog.fixed_point import emit_fixed_point_design  # noqa: PLC0415
    from ..errors import OutputPathError, SimulationError  # noqa: PLC0415
    from ..io import check_writable  # noqa: PLC0415
    from ..quantize.fixed_point import FixedPointModel  # noqa: PLC0415

    if os.path.lexists(outdir) and not os.path.isdir(outdir):
        raise OutputPathError(f"{outdir}: exists and is not a directory (OUTDIR holds rtl/, tb/, report.json)")
    check_writable(os.path.join(outdir, "rtl"), force)   # parents under a file, /proc: one line, before the work
    x = None
    if inputs is not None:
        from .compile_cmd import load_inputs  # noqa: PLC0415

        x = load_inputs(inputs)
    show = progress_enabled(quiet, as_json)
    with phases(show, "baseline") as phase:
        phase("emitting")
        fpm = FixedPointModel.from_model(_load_model(model), bits)
        files = emit_fixed_point_design(fpm, outdir, bits=bits, inputs=x, weights=weights, force=force)
    doc: dict = {"outdir": outdir, "bits": bits, "weights": weights,
                 "files": {k: [str(p) for p in v] for k, v in files.items()}}
    passed, res = True, None
    if verify:
        # the whole baseline testbench: its size is set by --inputs
        from ..backends.verilog.verify import read_manifest  # noqa: PLC0415

        man = read_manifest(outdir)
        passed, res, _ = run_verify(outdir, simulator, man["sequences"], man["steps"], timeout, show, "baseline")
        doc["verify"] = verify_doc(passed, res, simulator)
    stats = synth_with_progress(outdir, show) if synth and passed else None
    if stats is not None:
        doc["synth"] = synth_summary(stats, outdir)
    if as_json:
        echo_json(doc)
    else:
        click.echo(f"baseline: {bits}-bit fixed point, {weights} weights: {len(files['rtl'])} RTL files in "
                   f"{outdir}/rtl, testbench in {outdir}/tb")
        if res is not None:
            for line in doc["verify"]["mismatches"] + doc["verify"]["summary"]:
                click.echo(line)
        if stats is not None:
            from .verify_cmd import echo_synth  # noqa: PLC0415

            echo_synth(stats, outdir, doc["synth"]["analytic"])
    if not passed:
        what = doc["verify"]["summary"][-1] if doc["verify"]["summary"] else "no PASS line from the testbench"
        raise SimulationError(f"baseline {outdir} ({res.simulator}): RTL does not match the integer model: {what}")
