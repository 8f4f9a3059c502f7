"""``scc simulate``: cycle-accurate simulation of a compiled design (OUTDIR) or of a model compiled
on the fly with the default config; prints the deviation from the quantized reference and, with
``--targets``, the task metric of the float model, the quantized model and the SC design side by
side (per L when several ``--length``\\ s are given).  Mirrors
:meth:`sccompiler.design.CompiledDesign.simulate` and :func:`sccompiler.evaluation.compare`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .budget_report import budget_options, check_budget_options, echo_budget, run_budget
from .common import config_options, echo_json, effective_config, print_config_and_exit
from .compile_cmd import load_inputs
from .metrics_report import echo_metric_table, load_targets, metric_options
from .progress import progress_bar, progress_enabled, quiet_option


@click.command("simulate")
@click.argument("source", type=click.Path(exists=True, dir_okay=True), metavar="MODEL|OUTDIR")
@click.option("--inputs", "inputs", required=True, type=click.Path(exists=True, dir_okay=False),
              help=".npy inputs (B, T, F) or token ids (B, T)")
@click.option("--length", "lengths", type=click.IntRange(1), multiple=True,
              help="override the stream length L (repeatable: one simulation per L)  [default: the design's L]")
@metric_options(".npy targets of --inputs: labels (B,) or (B, T), or real values shaped like the outputs")
@click.option("--float-model", "float_model", type=click.Path(exists=True, dir_okay=True), default=None,
              help="the float model the design was quantized from (ONNX, torch or native): its metric and "
                   "error are shown next to the quantized model's")
@config_options
@click.option("--save", "save", type=click.Path(dir_okay=False), default=None,
              help="write the outputs (of the first --length) to a .npy file")
@click.option("--force", is_flag=True, help="overwrite --save's file")
@quiet_option
@click.option("--json", "as_json", is_flag=True,
              help="machine-readable output (includes the SC outputs and the reference outputs)")
@click.option("--workers", "workers", type=click.IntRange(1), default=1, show_default=True,
              help="threads simulating the batch")
@click.option("--engine", "engine", type=click.Choice(["packed", "reference"]), default="packed", show_default=True,
              help="packed runtime (fast) or the reference runtime (the oracle; bit-identical results)")
@budget_options
def simulate_cmd(source: str, inputs: str, lengths: tuple[int, ...], targets: str | None, metric: str | None,
                 float_model: str | None, config_path: str | None, settings: tuple[str, ...],
                 input_range: float | None, print_config: bool, save: str | None, force: bool, quiet: bool,
                 as_json: bool, workers: int, engine: str, error_budget: bool = False, budget_plot: str | None = None,
                 budget_sequences: int | None = None) -> None:
    """Simulate MODEL|OUTDIR on --inputs, cycle-accurately."""
    import numpy as np  # noqa: PLC0415

    from ..design import CompiledDesign, compile_model  # noqa: PLC0415
    from ..errors import ConfigError  # noqa: PLC0415
    from ..evaluation import compare, metric_rows  # noqa: PLC0415
    from ..frontends import load_model  # noqa: PLC0415
    from ..io import atomic_file, check_writable  # noqa: PLC0415

    p = Path(source)
    compiled = p.is_dir() and (p / "design.json").exists()
    if compiled and (config_path or settings or input_range is not None):
        raise ConfigError(f"{source} is a compiled design: --config, --set and --input-range apply when "
                          "compiling (give the model, or recompile with scc compile)")
    cfg = None if compiled else effective_config(config_path, settings, input_range=input_range,
                                                 length=lengths[0] if lengths else None)
    if print_config:
        print_config_and_exit(cfg if cfg is not None else CompiledDesign.load(p).config)
    if save:
        check_writable(save, force)
    check_budget_options(error_budget, budget_plot, budget_sequences, force)
    x = load_inputs(inputs)
    y = load_targets(targets, metric)
    fmodel = load_model(float_model) if float_model else None
    design = CompiledDesign.load(p) if compiled else compile_model(source, cfg)
    if y is not None:   # a bad --targets fails before the progress bar starts
        from ..evaluation import resolve_metric  # noqa: PLC0415
        from ..reference import check_input  # noqa: PLC0415

        xc = check_input(design.model, x)
        metric = resolve_metric(metric, y, (*xc.shape[:2], design.output_size), design.model.input.kind == "tokens")
    todo = list(lengths) or [None]
    per_run = len(design.netlist.layers)
    start = time.perf_counter()
    # one bar over every length and layer, advanced per time step and batch block
    with progress_bar(progress_enabled(quiet, as_json), len(todo) * per_run, "simulating") as advance:

        def run(xc, L):
            advance(0, f"simulating {xc.shape[0]} x {xc.shape[1]} at L={L or 'own'}")
            return design.simulate(xc, length=L, progress=advance, engine=engine, workers=workers)
        res = compare(design.model, x, simulate=run, lengths=todo, targets=y, metric=metric, float_model=fmodel)
    seconds = time.perf_counter() - start
    outs = res.pop("outputs")
    out = outs["sc"][0]
    if save:
        with atomic_file(save, force=force, mode="wb") as fh:
            np.save(fh, out)
    first = res["sc"][0]
    result = {"source": source, "shape": list(out.shape), "engine": engine, "workers": workers,
              "lengths": design.lengths if lengths == () else {k: lengths[0] for k in design.lengths},
              "seconds": seconds, "error_vs_quantized_reference": first["error_vs_quantized"], **res}
    budget = None
    if error_budget:
        budget = run_budget(design, x, lengths, sequences=budget_sequences, plot=budget_plot, force=force,
                            quiet=as_json)
        result["error_budget"] = budget.to_dict()
    if as_json:
        echo_json(result | {"output": out, "reference_outputs": {"quantized": outs["quantized"],
                                                                   "float": outs["float"]},
                            **({"outputs_per_length": outs["sc"]} if len(todo) > 1 else {})})
        return
    own = ", ".join(f"{k}:{v}" for k, v in design.lengths.items())
    ls = own if not lengths else ", ".join(map(str, lengths))
    click.echo(f"simulated {x.shape[0]} sequence(s) x {x.shape[1]} step(s) in {seconds:.2f} s, L = {ls}")
    for r in res["sc"]:
        at = f" at L={r['length']}" if len(todo) > 1 else ""
        e = r["error_vs_quantized"]
        click.echo(f"output {tuple(out.shape)}{at}; |SC - quantized reference|: mean {e['mean_abs']:.4g}, "
                   f"max {e['max_abs']:.4g}")
    if res.get("quantized_vs_float"):
        e = res["quantized_vs_float"]
        click.echo(f"|quantized - float|: mean {e['mean_abs']:.4g}, max {e['max_abs']:.4g}")
    if res["metric"]:
        echo_metric_table(metric_rows(res), res["metric"], res["sequences"], res["confidence"])
    if save:
        click.echo(f"outputs written to {save}")
    if budget is not None:
        echo_budget(budget, budget_plot)
