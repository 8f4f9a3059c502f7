"""``scc compile``: lower a quantized LSTM/GRU model to an SC netlist, schedule its stream length
and cost it; writes OUTDIR (design.json, arrays.npz, model/, stages/, report.json, report.md).
Mirrors :func:`sccompiler.design.compile_model` + :meth:`CompiledDesign.save`."""

from __future__ import annotations

import click

from ..errors import ConfigError
from .budget_report import budget_options, check_budget_options, echo_budget, run_budget
from .common import config_options, echo_json, effective_config, print_config_and_exit
from .metrics_report import echo_metric_table, load_targets, metric_options
from .progress import phases, progress_enabled, quiet_option


def load_inputs(path: str, what: str = "--inputs"):
    """An .npy array (no pickles, a regular file, header checked before allocating); a clear
    error otherwise."""
    from ..io import load_npy  # noqa: PLC0415

    return load_npy(path, what, ConfigError)


def add_task_metric(design, x, targets, metric: str | None) -> None:
    """The task metric of the quantized model and the SC design (its own L) on the calibration
    inputs, as the report's ``accuracy.task`` (report.md's accuracy section)."""
    from ..evaluation import compare  # noqa: PLC0415

    res = compare(design.model, x, simulate=lambda xc, L: design.simulate(xc, length=L), targets=targets,
                  metric=metric)
    res.pop("outputs")
    design.info["accuracy"] = {**(design.info.get("accuracy") or {}), "task": res}


def _list_passes(ctx: click.Context, _param, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from ..passes import FLOWS, list_passes  # noqa: PLC0415

    for p in list_passes():
        flag = "optional" if p["optional"] else "required"
        click.echo(f"{p['name']:<20} {flag:<9} {p['description']}")
    for name, passes in sorted(FLOWS.items()):
        click.echo(f"flow {name}: {' -> '.join(passes)}")
    ctx.exit(0)


@click.command("compile")
@click.option("--list-passes", is_flag=True, expose_value=False, is_eager=True, callback=_list_passes,
              help="list the passes (which may be disabled) and the flows, then exit")
@click.argument("model", type=click.Path(exists=True, dir_okay=True))
@config_options
@click.option("--length", "length", type=click.IntRange(1), default=None,
              help="stream length L per time step (same as --set length=L)  [default: the config's length, 256]")
@click.option("--target-error", "target_error", type=float, default=None,
              help="pick the least L whose mean |output - quantized reference| on --calibration is <= E")
@click.option("--calibration", "calibration", type=click.Path(exists=True, dir_okay=False), default=None,
              help=".npy calibration inputs (B, T, F) or token ids (B, T)")
@metric_options(".npy targets of --calibration (labels or values): the report's accuracy section gives the task "
                "metric of the quantized model and the SC design")
@click.option("--sources", "sources", type=click.Choice(["shared", "private"]), default=None,
              help="random-source registers: shared by comparators whose streams never meet (default), or one "
                   "LFSR per comparator")
@click.option("--disable", "disable", multiple=True, help="disable an optional pass by name (repeatable)")
@click.option("--flow", "flow", default=None, help="named pass flow (default, fast, lower)")
@click.option("-o", "--output", "outdir", default=None, type=click.Path(), help="output directory (required)")
@click.option("--force", is_flag=True, help="overwrite OUTDIR if it exists")
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
# --- verilog emission (sccompiler.backends.verilog.design) ---
@click.option("--emit", "emit", type=click.Choice(["verilog"]), default=None,
              help="also write OUTDIR/rtl (synthesizable top + library) and OUTDIR/tb (testbench; `scc verify`)")
# --- end verilog emission ---
@click.option("--from-trial", "from_trial", default=None, metavar="DIR/ID",
              help="rebuild trial ID of the exploration in DIR (`scc explore`): its config and calibration inputs")
@budget_options
def compile_cmd(model: str, config_path: str | None, settings: tuple[str, ...], input_range: float | None,
                print_config: bool, length: int | None, target_error: float | None,
                calibration: str | None, targets: str | None, metric: str | None,
                sources: str | None, disable: tuple[str, ...], flow: str | None,
                outdir: str | None, force: bool, quiet: bool, as_json: bool, emit: str | None = None,
                from_trial: str | None = None, error_budget: bool = False, budget_plot: str | None = None,
                budget_sequences: int | None = None) -> None:
    """Compile MODEL to stochastic-computing hardware in OUTDIR."""
    from ..design import compile_model  # noqa: PLC0415
    from ..io import check_writable  # noqa: PLC0415

    if length is not None and target_error is not None:
        raise ConfigError("give either --length or --target-error, not both")
    if target_error is not None and calibration is None:
        raise ConfigError("--target-error needs --calibration inputs to measure the error on")
    overrides = {"length": length, "target_error": target_error, "flow": flow, "sources": sources,
                 "input_range": input_range}
    if from_trial is not None:   # the trial's own config and calibration; nothing else may change them
        if config_path or settings or calibration or any(v is not None for v in overrides.values()):
            raise ConfigError("--from-trial rebuilds the trial's own config: give no --config, --set, --input-range, "
                              "--calibration, --length, --target-error, --flow or --sources with it")
        from ..explore.api import rebuild_trial  # noqa: PLC0415 - the explore extra

        cfg, trial_calib, _ = rebuild_trial(model, from_trial)
    else:
        cfg = effective_config(config_path, settings, **overrides)
        trial_calib = None
    if disable:
        cfg = cfg.replace(disable=tuple(dict.fromkeys(cfg.disable + disable)))
    if print_config:
        print_config_and_exit(cfg)
    if outdir is None:
        raise click.UsageError("missing option '-o' / '--output' (the output directory)")
    y = load_targets(targets, metric)
    if y is not None and calibration is None:
        raise ConfigError("--targets needs --calibration (the inputs the targets belong to)")
    check_writable(outdir, force)
    check_budget_options(error_budget, budget_plot, budget_sequences, force)
    if error_budget and calibration is None and from_trial is None:
        raise ConfigError("--error-budget needs --calibration inputs to measure the budget on")
    calib = load_inputs(calibration, "--calibration") if calibration else trial_calib
    emitted = None  # verilog emission
    # a spinner per pass (and per candidate L of --target-error's search) with its elapsed time
    with phases(progress_enabled(quiet, as_json), "compile") as update:
        design = compile_model(model, cfg, calibration=calib, progress=update)
        if y is not None:
            update("task metric")
            add_task_metric(design, calib, y, metric)
        # --- verilog emission: refuse an unsupported design before anything is written ---
        if emit == "verilog":
            from ..backends.verilog.design import check_supported  # noqa: PLC0415
            check_supported(design)
        # --- end verilog emission ---
        # --- verilog emission: rtl/ and tb/ (testbench vectors from the first calibration sequences),
        # written inside the temporary directory so OUTDIR appears complete or not at all ---
        extra = None
        if emit == "verilog":
            from pathlib import Path  # noqa: PLC0415

            from ..backends.verilog.design import emit_design  # noqa: PLC0415

            def extra(tmp):
                nonlocal emitted
                update("writing rtl/ and tb/ (the testbench's expected values from the runtime)")
                files = emit_design(design, tmp, inputs=None if calib is None else calib[:2], force=True)
                emitted = {k: [Path(outdir) / p.relative_to(tmp) for p in v] for k, v in files.items()}
        design.save(outdir, force=force, extra=extra)
        # --- end verilog emission ---
    rep = design.report()
    budget = None
    if error_budget:
        budget = run_budget(design, calib, (), sequences=budget_sequences, plot=budget_plot, force=force,
                            quiet=as_json)
        rep["error_budget"] = budget.to_dict()
    if emitted:  # verilog emission
        rep["verilog"] = {k: [str(p) for p in v] for k, v in emitted.items()}
        rep["verilog"]["verify"] = f"scc verify {outdir}"
    if as_json:
        echo_json(rep)
        return
    if emitted:  # verilog emission
        click.echo(f"verilog: {len(emitted['rtl'])} RTL files in {outdir}/rtl, testbench in {outdir}/tb; "
                   f"run `scc verify {outdir}`")
    lay = ", ".join(f"{p['name']} ({p['kind']}, L={p['length']}, "
                    f"{p['options'].get('gate_input', p['options'].get('mode', '-'))})"
                    for p in rep["layers"] if p["length"])
    click.echo(f"compiled {model} -> {outdir} in {rep.get('compile_seconds', 0):.2f} s: {lay}")
    click.echo("primitives: " + ", ".join(f"{k} {v:,}" for k, v in sorted(rep["primitives"].items())))
    src = rep.get("sources") or {}
    if src.get("mode"):
        n_sobol = int(src.get("sobol_registers", 0))
        sobol = f" + {n_sobol} Sobol" if n_sobol else ""
        click.echo(f"sources: {src['registers'] - n_sobol} {src['mode']} LFSR{sobol} registers ({src['register_bits']} "
                   f"flip-flops) for {src['comparators'] - src['pruned']} comparators, {src['pruned']} pruned")
    for w in rep.get("warnings", []):
        click.echo(f"warning: {w}", err=True)
    task = (rep.get("accuracy") or {}).get("task")
    if task:
        from ..evaluation import metric_rows  # noqa: PLC0415

        echo_metric_table(metric_rows(task), task["metric"], task["sequences"], task["confidence"])
    if rep.get("schedule"):
        s = rep["schedule"]
        per = ", ".join(f"{k} L={v}" for k, v in s.get("lengths", {}).items())
        click.echo(f"schedule: {per} meets target {s['target_error']:g} (measured {s['measured_error']:.4g} on "
                   f"{s['samples']} calibration sequence(s); uniform start L={s['length']})")
    if rep.get("cost"):
        sc = rep["cost"]["designs"][rep["cost"]["sc"]]["cost"]
        click.echo(f"cost ({rep['cost']['target']}): area {sc['area']:,.0f} {sc['area_unit']}, "
                   f"latency {sc['latency_cycles']} cycles and {sc['energy_per_inference_j']:.3g} J per "
                   f"{rep['cost']['steps']}-step inference (as the emitted RTL runs); see report.md")
    if budget is not None:
        echo_budget(budget, budget_plot)
