"""``scc activation``: realize a custom activation, choosing automatically among a weighted FSM, a
Bernstein/ReSC unit and a LUT+SNG (:func:`sccompiler.fsm.realize.realize_activation`).

``scc fsm`` stays the verb for a weighted FSM alone."""

from __future__ import annotations

import json

import click

from .common import echo_json


@click.command("activation")
@click.argument("target")
@click.option("--max-error", type=float, default=0.01, show_default=True,
              help="largest analytic |target - realization| in the output value domain")
@click.option("--length", "-L", type=int, default=1024, show_default=True,
              help="stream length of the bit-level check and of the emitted counters (0 = no bit-level check)")
@click.option("--input", "input_spec", default="binary", show_default=True, metavar="binary|unipolar|integral:M",
              help="bipolar bit stream, unipolar bit stream, or an integral (APC) input (WFSM only)")
@click.option("--output", type=click.Choice(["bipolar", "unipolar"]), default="bipolar", show_default=True)
@click.option("--domain", type=float, nargs=2, default=None, metavar="LO HI", help="fit interval of x")
@click.option("--kinds", default="wfsm,wfsm2d,bernstein,lut", show_default=True,
              help="comma-separated candidate families")
@click.option("--max-states", type=int, default=64, show_default=True,
              help="largest WFSM tried (two-dimensional WFSMs: at most 16 per counter)")
@click.option("--max-degree", type=int, default=64, show_default=True, help="largest Bernstein degree tried")
@click.option("--max-address-bits", type=int, default=12, show_default=True, help="largest LUT tried")
@click.option("--points", type=int, default=33, show_default=True, help="bit-level input values")
@click.option("--repeats", type=int, default=4, show_default=True, help="bit-level seeds per point")
@click.option("--seed", type=int, default=1, show_default=True, help="seed of the sources of the bit-level check")
@click.option("--json", "as_json", is_flag=True, help="print the machine-readable report")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="PNG: target and candidates, and an error panel (target - realization vs x)")
@click.option("--output-dir", "-o", type=click.Path(file_okay=False), default=None,
              help="write report.json, realization.png and the chosen realization's Verilog + testbench here")
@click.option("--force", is_flag=True, help="overwrite existing outputs")
def activation_cmd(target: str, max_error: float, length: int, input_spec: str, output: str,
                   domain: tuple[float, float] | None, kinds: str, max_states: int, max_degree: int,
                   max_address_bits: int, points: int, repeats: int, seed: int, as_json: bool,
                   plot: str | None, output_dir: str | None, force: bool) -> None:
    """Realize TARGET (an expression in x) as the cheapest SC circuit meeting --max-error.

    Example: scc activation "x*sigmoid(4*x)" --max-error 0.01 --length 1024 --json
    """
    from ..errors import SCValueError, SynthesisError  # noqa: PLC0415
    from ..fsm.realize import realize_activation  # noqa: PLC0415
    from ..fsm.realize_report import format_realization, plot_realization  # noqa: PLC0415
    from ..io import atomic_dir, check_writable  # noqa: PLC0415
    from ..jsonable import to_jsonable  # noqa: PLC0415

    if plot:
        check_writable(plot, force)
    if output_dir:
        check_writable(output_dir, force)
    if length < 0:
        raise SCValueError("--length", f"must be >= 0, got {length}")
    if output_dir and length == 0:
        raise SCValueError("--length", "--output-dir needs --length >= 1 (the cycles of the emitted counters)")
    kind_list = tuple(k.strip() for k in kinds.split(",") if k.strip())
    rep = realize_activation(target, max_error=max_error, length=max(length, 1), input=input_spec, output=output,
                             domain=domain, kinds=kind_list, max_states=max_states, max_degree=max_degree,
                             max_address_bits=max_address_bits, simulate=length > 0, points=points,
                             repeats=repeats, seed=seed)
    doc = rep.to_json()
    if plot:
        plot_realization(rep, plot, force=force)
        doc["plot"] = str(plot)
    if output_dir and rep.chosen is not None:
        with atomic_dir(output_dir, force=force) as tmp:
            doc["files"] = _write_chosen(rep, tmp, seed, length)
            plot_realization(rep, tmp / "realization.png", force=True)
            (tmp / "report.json").write_text(json.dumps(to_jsonable(doc), indent=2) + "\n")
        doc["output_dir"] = str(output_dir)
    if as_json:
        echo_json(doc)
    else:
        click.echo(format_realization(rep))
        if plot:
            click.echo(f"plot      {plot}")
        if output_dir and rep.chosen is not None:
            click.echo(f"written   {output_dir}: {', '.join(doc['files'])}")
    if rep.chosen is None:
        raise SynthesisError(rep.unmet_message() + "; relax --max-error or raise --max-states/--max-degree/"
                                                   "--max-address-bits")


def _write_chosen(rep, directory, seed: int, length: int) -> list[str]:
    """The chosen realization's module and testbench (expected vectors at 5 inputs) in ``directory``."""
    import numpy as np  # noqa: PLC0415

    c = rep.chosen
    xs = np.linspace(rep.domain[0], rep.domain[1], 5)
    if c.kind == "wfsm":
        from ..backends.verilog.wfsm import write_wfsm_files  # noqa: PLC0415
        from ..fsm.simulate import simulation_inputs  # noqa: PLC0415

        paths = write_wfsm_files(c.design, directory / "wfsm.v", testbench_inputs=simulation_inputs(c.design, 5)[1],
                                 force=True, module_name="wfsm", input_kind="lfsr", width=16, seed=seed,
                                 length=length)
    else:
        from ..backends.verilog.realizations import write_realization_files  # noqa: PLC0415

        name = {"bernstein": "resc", "wfsm2d": "wfsm2d", "lut": "lut"}[c.kind]
        paths = write_realization_files(c.kind, c.design, directory / f"{name}.v", testbench_inputs=xs,
                                        force=True, module_name=name, seed=seed, length=length)
    return [p.name for p in paths] + ["realization.png", "report.json"]
