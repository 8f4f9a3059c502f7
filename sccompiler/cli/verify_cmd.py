"""``scc verify OUTDIR``: build and run the testbench that ``scc compile --emit verilog`` wrote
(OUTDIR/rtl, OUTDIR/tb) under Icarus Verilog or Verilator; exit 0 only when every per-step value
of the RTL equals the Python simulator's, bit for bit.  ``--synth`` then runs Yosys on OUTDIR/rtl
and writes OUTDIR/synth.json.  Mirrors :func:`sccompiler.backends.verilog.design.verify_design` and
:func:`~sccompiler.backends.verilog.design.synthesize_design`."""

from __future__ import annotations

import click

from .common import echo_json

#: CLI spelling -> tools.simulate's simulator name
SIMULATORS = {"iverilog": "icarus", "icarus": "icarus", "verilator": "verilator"}


@click.command("verify")
@click.argument("outdir", type=click.Path(exists=True, file_okay=False))
@click.option("--simulator", type=click.Choice(sorted(SIMULATORS)), default="iverilog", show_default=True,
              help="HDL simulator that runs the testbench")
@click.option("--synth", is_flag=True,
              help="also synthesize OUTDIR/rtl with Yosys: cells, flip-flops, transistor estimate "
                   "(-> OUTDIR/synth.json)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable result")
def verify_cmd(outdir: str, simulator: str, synth: bool, as_json: bool) -> None:
    """Run OUTDIR's RTL testbench; exit 0 only on a bit-exact match."""
    from ..backends.verilog.design import synth_summary, synthesize_design, verify_design  # noqa: PLC0415
    from ..backends.verilog.harness import mismatches  # noqa: PLC0415
    from ..errors import SimulationError  # noqa: PLC0415

    passed, res = verify_design(outdir, SIMULATORS[simulator])
    bad = mismatches(res.stdout)
    summary = [ln for ln in res.stdout.splitlines() if ln.startswith(("PASS", "FAIL"))]
    stats = synthesize_design(outdir) if synth and passed else None
    if as_json:
        doc = {"passed": passed, "simulator": res.simulator, "mismatches": bad, "summary": summary,
               "build_seconds": res.build_seconds, "run_seconds": res.run_seconds}
        if stats is not None:
            doc["synth"] = synth_summary(stats, outdir)
        echo_json(doc)
    else:
        for line in bad + summary:
            click.echo(line)
        if stats is not None:
            echo_synth(stats, outdir, synth_summary(stats, outdir)["analytic"])
    if not passed:
        what = summary[-1] if summary else "no PASS line from the testbench"
        raise SimulationError(f"verify {outdir} ({res.simulator}): RTL does not match the simulator: {what}")


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
