"""``scc fsm``: synthesize a weighted FSM for a target function and report its accuracy.

Mirrors :func:`sccompiler.fsm.synthesize_fsm` (analytic design) and
:func:`sccompiler.fsm.simulate.simulate_design` (bit-level error at ``--length``).
"""

from __future__ import annotations

import click

from .common import echo_json


@click.command("fsm")
@click.argument("expression")
@click.option("--states", "-n", type=int, default=None, help="number of FSM states N (default 16 unless --max-error)")
@click.option("--max-error", type=float, default=None,
              help="pick the smallest N (and, without --weight-bits, the smallest b) whose analytic max error "
                   "after quantization is <= this")
@click.option("--input", "input_spec", default="binary", show_default=True, metavar="binary|integral:M",
              help="a binary bipolar stream, or the per-cycle sum of M bipolar streams (binomial model)")
@click.option("--output", type=click.Choice(["bipolar", "unipolar"]), default="bipolar", show_default=True,
              help="output encoding: bipolar stream P(1) = (y+1)/2, or unipolar P(1) = y")
@click.option("--domain", type=float, nargs=2, default=None, metavar="LO HI",
              help="fit interval of x (default: the input encoding's range, [-1,1] or [-M,M])")
@click.option("--weight-bits", "-b", type=int, default=None,
              help="weight resolution b (default 8; auto with --max-error)")
@click.option("--objective", type=click.Choice(["l2", "minimax"]), default="l2", show_default=True)
@click.option("--monotone/--no-monotone", default=False, show_default=True,
              help="constrain the weights to follow the target's overall trend")
@click.option("--regularization", type=float, default=None, help="relative regularization (default 1e-10)")
@click.option("--grid", type=int, default=2001, show_default=True, help="fit grid points")
@click.option("--clip", is_flag=True, help="clip a target that leaves the output range instead of rejecting it")
@click.option("--length", "-L", type=int, default=4096, show_default=True,
              help="stream length for the bit-level simulation (0 = skip it)")
@click.option("--source", type=click.Choice(["lfsr", "sobol", "ideal"]), default="lfsr", show_default=True,
              help="input SNG source for the simulation (LFSRs are leap-forward)")
@click.option("--repeats", type=int, default=4, show_default=True, help="simulation seeds per point")
@click.option("--points", type=int, default=33, show_default=True, help="simulated input values")
@click.option("--seed", type=int, default=1, show_default=True,
              help="seed of the LFSR sources (simulation and --verilog)")
@click.option("--json", "as_json", is_flag=True, help="print a machine-readable report")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="write a PNG plot to this file")
@click.option("--force", is_flag=True, help="overwrite an existing --plot file")
# --- Verilog backend (sccompiler/cli/fsm_verilog.py) ---
@click.option("--verilog", type=click.Path(dir_okay=False), default=None,
              help="write the WFSM as Verilog-2005 (input SNGs per --source, weight LFSR, "
                   "ones counter over --length cycles)")
@click.option("--testbench", is_flag=True,
              help="with --verilog: also write a self-checking testbench "
                   "(expected bits from simulate_fsm at --points inputs)")
# --- end Verilog backend ---
def fsm_cmd(expression: str, states: int | None, max_error: float | None, input_spec: str, output: str,
            domain: tuple[float, float] | None, weight_bits: int | None, objective: str, monotone: bool,
            regularization: float | None, grid: int, clip: bool, length: int, source: str, repeats: int,
            points: int, seed: int, as_json: bool, plot: str | None, force: bool,
            verilog: str | None = None, testbench: bool = False) -> None:
    """Synthesize a weighted FSM computing EXPRESSION (a function of x) on stochastic streams.

    Example: scc fsm "tanh(2*x)" --states 16 --json
    """
    from ..errors import SCValueError  # noqa: PLC0415
    from ..fsm import synthesize_fsm  # noqa: PLC0415
    from ..fsm.report import design_report, format_report, plot_design  # noqa: PLC0415
    from ..fsm.synth import DEFAULT_REGULARIZATION  # noqa: PLC0415
    from ..io import check_writable  # noqa: PLC0415

    if plot:
        check_writable(plot, force)  # fail before the work, not after
    if states is not None and max_error is not None:
        raise SCValueError("--states", "give either --states or --max-error, not both")
    if states is None and max_error is None:
        states = 16
    if length < 0:
        raise SCValueError("--length", f"must be >= 0, got {length}")
    # --- Verilog backend ---
    from .fsm_verilog import check_verilog_options, format_entry, write_fsm_verilog  # noqa: PLC0415

    check_verilog_options(verilog, testbench, source, length, force)
    if plot and verilog:
        import os  # noqa: PLC0415

        from .fsm_verilog import planned_files  # noqa: PLC0415

        same = [str(p) for p in planned_files(verilog, testbench)
                if os.path.abspath(p) == os.path.abspath(plot)]
        if same:
            raise SCValueError("--plot", f"{plot} is also a --verilog output ({same[0]}); give distinct paths")
    # --- end Verilog backend ---
    bits = weight_bits if weight_bits is not None else (None if max_error is not None else 8)
    design = synthesize_fsm(
        expression, states=states, max_error=max_error, input=input_spec, output=output, domain=domain,
        weight_bits=bits, objective=objective,
        regularization=DEFAULT_REGULARIZATION if regularization is None else regularization,
        monotone=monotone, grid=grid, clip=clip)
    sim = None
    skipped = None
    if length > 0:
        from ..fsm.simulate import simulate_design  # noqa: PLC0415

        sim = simulate_design(design, length=length, points=points, repeats=repeats, source=source, seed=seed)
    else:
        skipped = "--length 0"
    rep = design_report(design, sim, skipped)
    if plot:
        drawn = plot_design(design, plot, sim, force=force)
        rep["plot"] = str(plot)
        rep["plot_baseline"] = drawn["baseline"]
    # --- Verilog backend ---
    if verilog:
        rep["verilog"] = write_fsm_verilog(design, verilog, testbench=testbench, source=source, length=length,
                                           points=points, seed=seed, force=force)
    # --- end Verilog backend ---
    if as_json:
        echo_json(rep)
    else:
        click.echo(format_report(rep))
        if plot:
            note = ("" if rep["plot_baseline"]
                    else f" ({rep['baseline']['name']} not drawn: it does not approximate the target)")
            click.echo(f"plot      {plot} (curves and an error panel){note}")
        if verilog:  # --- Verilog backend ---
            click.echo(format_entry(rep["verilog"]))
